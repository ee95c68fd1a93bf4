"""The SQLite file: pragmas, schema version, persistence, threads."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from nodetool_gateway.stores import Database, JobStore
from nodetool_gateway.stores.database import SCHEMA_VERSION, to_iso


def test_wal_and_pragmas(db: Database):
    """Database opens in WAL mode with synchronous NORMAL and foreign keys on."""
    assert db.query_one("PRAGMA journal_mode")[0] == "wal"
    assert db.query_one("PRAGMA synchronous")[0] == 1  # NORMAL
    assert db.query_one("PRAGMA foreign_keys")[0] == 1
    assert (db.path.parent / (db.path.name + "-wal")).exists()


def test_schema_version_recorded(db: Database):
    """Database records its schema version in PRAGMA user_version."""
    assert db.schema_version == SCHEMA_VERSION >= 1
    tables = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"jobs", "job_logs", "assets"} <= tables


def test_reopen_keeps_data(tmp_path: Path):
    """Database keeps its rows after it is closed and opened again."""
    path = tmp_path / "sub" / "gateway.db"
    with Database(path) as db:
        JobStore(db).create("job-1", "wf", {"x": 1}, "u")
    with Database(path) as db:
        job = JobStore(db).get("job-1")
        assert db.schema_version == SCHEMA_VERSION
    assert job["params"] == {"x": 1}
    # Closing the last connection checkpoints the WAL into the main file.
    assert not (path.parent / "gateway.db-wal").exists()


def test_newer_schema_is_refused(tmp_path: Path):
    """Database refuses a file written by a newer schema and says what to do."""
    path = tmp_path / "gateway.db"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(RuntimeError, match="upgrade nodetool-gateway"):
        Database(path)


def test_concurrent_writes_from_threads(db: Database):
    """Database takes writes from many threads at once without losing any."""
    jobs = JobStore(db)
    threads, per_thread = 8, 40
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                job_id = f"job-{n}-{i}"
                jobs.create(job_id, f"wf-{n}", {"i": i}, "u")
                jobs.add_log(job_id, f"line {i}")
                jobs.finish(job_id, "completed", outputs={"i": i})
        except BaseException as exc:  # collected: an assert in a thread would be lost
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert db.query_one("SELECT count(*) FROM jobs WHERE status = 'completed'")[0] == threads * per_thread
    assert db.query_one("SELECT count(*) FROM job_logs")[0] == threads * per_thread


def test_each_thread_has_its_connection(db: Database):
    """Database gives each thread its own connection and reuses it."""
    other: list[sqlite3.Connection] = []
    thread = threading.Thread(target=lambda: other.append(db.connection()))
    thread.start()
    thread.join()
    assert db.connection() is db.connection()
    assert other[0] is not db.connection()


def test_closed_database_refuses_queries(tmp_path: Path):
    """Database raises on use after close."""
    db = Database(tmp_path / "gateway.db")
    db.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.query("SELECT 1")


def test_failed_transaction_rolls_back(db: Database):
    """Database rolls a write transaction back when its block raises."""
    with pytest.raises(ZeroDivisionError):
        with db.transaction() as conn:
            conn.execute("INSERT INTO jobs (id, status, started_at) VALUES ('j', 'running', 'now')")
            1 / 0
    assert db.query_one("SELECT count(*) FROM jobs")[0] == 0


def test_times_are_utc_with_offset():
    """to_iso writes UTC with its offset from datetimes, strings and Unix seconds."""
    paris = timezone(timedelta(hours=2))
    assert to_iso(datetime(2025, 6, 10, 18, 0, tzinfo=paris)) == "2025-06-10T16:00:00.000000+00:00"
    assert to_iso("2025-06-10T16:00:00") == "2025-06-10T16:00:00.000000+00:00"
    assert to_iso(0) == "1970-01-01T00:00:00.000000+00:00"
    with pytest.raises(ValueError, match="ISO 8601"):
        to_iso("yesterday")
