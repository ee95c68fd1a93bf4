"""Jobs and their logs in SQLite, in NodeTool's shape."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from nodetool_gateway.stores import Database, JobStore
from nodetool_gateway.stores.jobs import INTERRUPTED


@pytest.fixture
def jobs(db: Database) -> JobStore:
    return JobStore(db)


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0
    return moment


def test_create_records_a_running_job(jobs: JobStore):
    """JobStore.create records a running job with its params, in NodeTool's shape."""
    job = jobs.create("j1", "wf-a", {"text": "hi", "n": 2}, "user-1")
    assert set(job) == {"id", "workflow_id", "status", "started_at", "finished_at", "error",
                        "params", "outputs", "user_id"}
    assert job["id"] == "j1" and job["workflow_id"] == "wf-a" and job["user_id"] == "user-1"
    assert job["status"] == "running"
    assert job["params"] == {"text": "hi", "n": 2}
    assert job["outputs"] is None and job["error"] is None and job["finished_at"] is None
    _utc(job["started_at"])


def test_create_refuses_a_known_id(jobs: JobStore):
    """JobStore.create refuses an id that is already recorded."""
    jobs.create("j1", "wf", {}, "u")
    with pytest.raises(ValueError, match="already recorded"):
        jobs.create("j1", "wf", {}, "u")


def test_finish_records_the_end(jobs: JobStore):
    """JobStore.finish records status, outputs, error and the finish time."""
    jobs.create("ok", "wf", {}, "u")
    jobs.create("bad", "wf", {}, "u")
    done = jobs.finish("ok", "completed", outputs={"result": [1, 2]})
    failed = jobs.finish("bad", "failed", error="boom")
    assert done["status"] == "completed" and done["outputs"] == {"result": [1, 2]}
    assert _utc(done["finished_at"]) >= _utc(done["started_at"])
    assert failed["status"] == "failed" and failed["error"] == "boom" and failed["outputs"] is None
    assert jobs.get("ok") == done


def test_finish_keeps_outputs_json_cannot_carry(jobs: JobStore):
    """JobStore.finish records outputs that are not JSON as text rather than failing."""
    jobs.create("j", "wf", {}, "u")
    assert jobs.finish("j", "completed", outputs={"raw": b"\x00"})["outputs"] == {"raw": "b'\\x00'"}


def test_finish_unknown_job(jobs: JobStore):
    """JobStore.finish raises KeyError for a job never created."""
    with pytest.raises(KeyError):
        jobs.finish("nope", "completed")


def test_get_unknown_job(jobs: JobStore):
    """JobStore.get returns None for an unknown id."""
    assert jobs.get("nope") is None


def test_list_newest_first_with_filters_and_limit(jobs: JobStore):
    """JobStore.list returns jobs newest first, filtered by workflow and status, up to limit."""
    for i in range(6):
        jobs.create(f"j{i}", "wf-a" if i % 2 == 0 else "wf-b", {"i": i}, "u")
    jobs.finish("j0", "completed")
    jobs.finish("j3", "failed", error="x")

    listed = jobs.list()
    assert [j["id"] for j in listed] == ["j5", "j4", "j3", "j2", "j1", "j0"]
    assert set(listed[0]) == {"id", "workflow_id", "status", "started_at", "finished_at", "error",
                              "user_id"}
    assert [j["id"] for j in jobs.list(workflow_id="wf-a")] == ["j4", "j2", "j0"]
    assert [j["id"] for j in jobs.list(status="running")] == ["j5", "j4", "j2", "j1"]
    assert [j["id"] for j in jobs.list(workflow_id="wf-b", status="failed")] == ["j3"]
    assert [j["id"] for j in jobs.list(limit=2)] == ["j5", "j4"]
    assert jobs.list(limit=0) == []


def test_list_and_get_for_one_user(jobs: JobStore):
    """JobStore.list and get with user_id see only that user's jobs; without it, every job."""
    jobs.create("mine", "wf", {}, "alice")
    jobs.create("theirs", "wf", {}, "bob")
    jobs.create("nobody", "wf", {})
    assert [j["id"] for j in jobs.list(user_id="alice")] == ["mine"]
    assert [j["id"] for j in jobs.list(workflow_id="wf", status="running", user_id="bob")] == ["theirs"]
    assert jobs.get("mine", user_id="alice")["user_id"] == "alice"
    assert jobs.get("theirs", user_id="alice") is None
    assert jobs.get("nobody", user_id="alice") is None
    assert {j["id"] for j in jobs.list()} == {"mine", "theirs", "nobody"}
    assert jobs.get("theirs")["user_id"] == "bob"


def test_logs_oldest_first_and_limit_keeps_the_last(jobs: JobStore):
    """JobStore.logs returns the last `limit` lines, oldest first."""
    jobs.create("j", "wf", {}, "u")
    jobs.create("other", "wf", {}, "u")
    for i in range(5):
        jobs.add_log("j", f"line {i}", node_id=f"n{i}", severity="warning" if i == 3 else "info")
    jobs.add_log("other", "not mine")

    logs = jobs.logs("j")
    assert [entry["content"] for entry in logs] == [f"line {i}" for i in range(5)]
    assert set(logs[0]) == {"time", "node_id", "severity", "content"}
    assert logs[3]["severity"] == "warning" and logs[3]["node_id"] == "n3"
    _utc(logs[0]["time"])
    assert [entry["content"] for entry in jobs.logs("j", limit=2)] == ["line 3", "line 4"]


def test_logs_follow_their_times(jobs: JobStore):
    """JobStore.logs orders lines by their given time, not by arrival."""
    jobs.create("j", "wf", {}, "u")
    jobs.add_logs([
        {"job_id": "j", "content": "second", "time": "2025-01-01T00:00:02+00:00"},
        {"job_id": "j", "content": "first", "time": "2025-01-01T01:00:01+01:00"},
        {"job_id": "j", "content": "third", "time": 1735689603.0},
    ])
    logs = jobs.logs("j")
    assert [entry["content"] for entry in logs] == ["first", "second", "third"]
    assert logs[0]["time"] == "2025-01-01T00:00:01.000000+00:00"
    assert logs[0]["severity"] == "info" and logs[0]["node_id"] is None


def test_add_logs_is_all_or_nothing(jobs: JobStore):
    """JobStore.add_logs writes no line of a batch that names an unknown job."""
    jobs.create("j", "wf", {}, "u")
    with pytest.raises(KeyError, match="ghost"):
        jobs.add_logs([{"job_id": "j", "content": "a"}, {"job_id": "ghost", "content": "b"}])
    assert jobs.logs("j") == []
    with pytest.raises(KeyError):
        jobs.add_log("ghost", "c")


def test_recover_fails_jobs_left_running(tmp_path: Path):
    """JobStore.recover marks jobs a previous process left running as failed."""
    path = tmp_path / "gateway.db"
    with Database(path) as db:
        before = JobStore(db)
        before.create("left", "wf", {}, "u")
        before.create("done", "wf", {}, "u")
        before.finish("done", "completed", outputs={"v": 1})
    with Database(path) as db:
        jobs = JobStore(db)
        assert jobs.recover() == 1
        left, done = jobs.get("left"), jobs.get("done")
        assert jobs.recover() == 0
    assert left["status"] == "failed" and left["error"] == INTERRUPTED
    assert left["finished_at"] is not None
    assert INTERRUPTED == "interrupted: the node stopped while the job ran"
    assert done["status"] == "completed" and done["error"] is None


# A full disk as SQLite sees it: the file may not grow past its current pages (this
# connection's limit), and those pages are filled, so writes fail with SQLITE_FULL.
PAD = {"pad": "x" * 200}
BIG = {"pad": "y" * 8000}  # more than a page (4 KiB): it needs pages the file cannot add


def fill_up(db: Database, jobs: JobStore, pad: dict = PAD) -> None:
    """Fill the database on this thread's connection with jobs until one is refused."""
    conn = db.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    for i in range(10_000):
        if "record_error" in jobs.create(f"fill-{i:05d}", "wf", pad, "u"):
            return
    raise AssertionError("the database never filled up")


def make_room(db: Database) -> None:
    db.connection().execute("PRAGMA max_page_count = 1073741823")


def warnings_of(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "nodetool.gateway.jobs"]


def test_job_the_full_database_refuses_is_kept(jobs: JobStore, db: Database, caplog):
    """A job the full database refuses says so, and get, list and logs still know it."""
    fill_up(db, jobs)
    caplog.clear()
    caplog.set_level(logging.INFO)
    job = jobs.create("lost", "wf-lost", BIG, "u")
    assert job["status"] == "running" and job["params"] == BIG
    assert job["record_error"].startswith("not recorded: database or disk is full")
    jobs.add_logs([{"job_id": "lost", "content": f"line {i}"} for i in range(3)])
    done = jobs.finish("lost", "completed", outputs={"result": "y" * 4000})
    assert done["status"] == "completed" and done["outputs"] == {"result": "y" * 4000}
    assert done["finished_at"] is not None and "record_error" in done
    assert jobs.get("lost") == done
    assert jobs.record_error("lost") == done["record_error"]
    assert jobs.list(workflow_id="wf-lost") == [
        {k: done[k] for k in ("id", "workflow_id", "status", "started_at", "finished_at", "error",
                              "user_id", "record_error")}]
    assert jobs.list(status="completed")[0]["id"] == "lost"
    assert [line["content"] for line in jobs.logs("lost")] == ["line 0", "line 1", "line 2"]
    assert db.query_one("SELECT count(*) FROM jobs WHERE id = 'lost'")[0] == 0
    # One warning line per refused write (create, finish), no traceback.
    records = warnings_of(caplog)
    assert [r.levelno for r in records] == [logging.WARNING, logging.WARNING]
    for record in records:
        message = record.getMessage()
        assert "\n" not in message and record.exc_info is None
        assert "database or disk is full" in message and str(db.path) in message


def test_kept_job_is_recorded_once_there_is_room(jobs: JobStore, db: Database, tmp_path: Path):
    """A job kept in memory is written, with its log lines, when the database takes writes again."""
    fill_up(db, jobs)
    assert "record_error" in jobs.create("late", "wf", BIG, "u")
    jobs.add_log("late", "while full")
    make_room(db)
    done = jobs.finish("late", "completed", outputs={"v": 1})
    assert "record_error" not in done and jobs.record_error("late") is None
    db.close()
    with Database(tmp_path / "gateway.db") as again:
        stored = JobStore(again)
        assert stored.get("late") == done
        assert [line["content"] for line in stored.logs("late")] == ["while full"]


def test_end_of_job_the_full_database_refuses(jobs: JobStore, db: Database, caplog):
    """A job recorded at its start whose end cannot be written is reported finished anyway."""
    jobs.create("half", "wf", {}, "u")
    fill_up(db, jobs)
    caplog.set_level(logging.INFO)
    caplog.clear()
    jobs.add_log("half", "q" * 8000)
    done = jobs.finish("half", "failed", outputs={"big": "z" * 4000}, error="boom")
    assert (done["status"], done["error"], done["params"]) == ("failed", "boom", {})
    assert "database or disk is full" in done["record_error"]
    assert jobs.get("half")["status"] == "failed"
    assert [j["status"] for j in jobs.list() if j["id"] == "half"] == ["failed"]
    assert [line["content"] for line in jobs.logs("half")] == ["q" * 8000]
    assert db.query_one("SELECT status FROM jobs WHERE id = 'half'")[0] == "running"
    assert len(warnings_of(caplog)) == 2  # the log line, the end


def test_full_database_leaves_the_connection_usable(jobs: JobStore, db: Database):
    """After SQLITE_FULL the connection is out of its transaction: reads and later writes work."""
    fill_up(db, jobs)
    conn = db.connection()
    with pytest.raises(sqlite3.OperationalError, match="full"), db.transaction() as c:
        c.execute("INSERT INTO jobs (id, status, started_at, params) VALUES ('x', 'running', 'now', ?)",
                  ("w" * 8000,))
    assert not conn.in_transaction
    make_room(db)
    assert "record_error" not in jobs.create("after", "wf", BIG, "u")


def test_traceback_only_at_debug(jobs: JobStore, db: Database, caplog):
    """At DEBUG a refused write's warning carries the traceback."""
    fill_up(db, jobs)
    caplog.set_level(logging.DEBUG, logger="nodetool.gateway.jobs")
    caplog.clear()
    jobs.create("dbg", "wf", BIG, "u")
    (record,) = warnings_of(caplog)
    assert record.exc_info is not None and isinstance(record.exc_info[1], sqlite3.OperationalError)


def test_recover_leaves_other_nodes_jobs_alone(tmp_path: Path):
    """A node starting on a shared database fails only its own (and unowned) running jobs."""
    path = tmp_path / "gateway.db"
    with Database(path) as db:
        JobStore(db, node_id="box-a").create("a-left", "wf", {}, "u")
        JobStore(db, node_id="box-b").create("b-live", "wf", {}, "u")
        JobStore(db).create("legacy", "wf", {}, "u")
    with Database(path) as db:
        again = JobStore(db, node_id="box-a")
        assert again.recover() == 2
        status = {j["id"]: j["status"] for j in again.list()}
    assert status == {"a-left": "failed", "b-live": "running", "legacy": "failed"}
