"""Jobs and their logs in SQLite, in NodeTool's shape."""

from __future__ import annotations

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
