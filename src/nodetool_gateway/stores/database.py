"""One SQLite file shared by the jobs and assets stores.

Threads: each thread gets its own connection (created on first use), so a
heavy read running in ``asyncio.to_thread`` never holds up the small queries
the event loop runs inline; WAL lets those readers run while a write is in
progress. Writes go through :meth:`Database.transaction`, which takes one
process-wide lock and opens ``BEGIN IMMEDIATE``: writers in this process queue
on the lock instead of spinning in SQLite's busy handler, and a writer in
another process (the ``assets`` CLI) is waited for up to ``timeout`` seconds.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = ["Database", "SCHEMA_VERSION", "now_iso", "to_iso"]

# Each entry upgrades the schema by one version; PRAGMA user_version records
# how many have been applied. Append, never edit a released entry.
_MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            workflow_id TEXT,
            status TEXT NOT NULL,
            params TEXT NOT NULL DEFAULT '{}',
            outputs TEXT,
            error TEXT,
            user_id TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT
        )""",
        "CREATE INDEX jobs_started ON jobs (started_at)",
        "CREATE INDEX jobs_workflow ON jobs (workflow_id, started_at)",
        "CREATE INDEX jobs_status ON jobs (status, started_at)",
        """CREATE TABLE job_logs (
            id INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            time TEXT NOT NULL,
            node_id TEXT,
            severity TEXT NOT NULL,
            content TEXT NOT NULL
        )""",
        "CREATE INDEX job_logs_job ON job_logs (job_id, time)",
        """CREATE TABLE assets (
            id TEXT PRIMARY KEY,
            parent_id TEXT REFERENCES assets (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL DEFAULT 0,
            metadata TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            file TEXT
        )""",
        "CREATE INDEX assets_parent ON assets (parent_id)",
        "CREATE INDEX assets_type ON assets (content_type)",
    ],
    [
        # Which node ran a job: a node marks only its own jobs failed at start-up.
        "ALTER TABLE jobs ADD COLUMN node_id TEXT",
    ],
]

SCHEMA_VERSION = len(_MIGRATIONS)


def now_iso() -> str:
    """The current time, ISO 8601 in UTC with its offset, fixed width (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def to_iso(value: datetime | str | float | None) -> str:
    """A timestamp (datetime, ISO string, or Unix seconds) as :func:`now_iso` writes it.

    Naive datetimes and strings without an offset are taken as UTC.
    """
    if value is None:
        return now_iso()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        dt = datetime.fromtimestamp(value, timezone.utc)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    elif isinstance(value, datetime):
        dt = value
    else:
        raise TypeError("a time must be a datetime, an ISO string or Unix seconds, "
                        f"not {type(value).__name__}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _casefold(value: Any) -> Any:
    # SQLite's lower() and LIKE only fold ASCII; names are often not ASCII.
    return value.casefold() if isinstance(value, str) else value


class Database:
    """A SQLite file in WAL mode, with the gateway's schema, usable from any thread.

    The schema is created or upgraded on open. A file written by a newer
    version (a higher ``PRAGMA user_version``) is refused rather than guessed at.
    """

    def __init__(self, path: Path, *, timeout: float = 5.0):
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}
        self._connections_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        self._migrate()

    # Connections

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        if self._closed:
            raise sqlite3.ProgrammingError(f"the database {self.path} is closed")
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
        return conn

    def _open(self) -> sqlite3.Connection:
        # check_same_thread=False only so close() can close every thread's connection.
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.create_function("casefold", 1, _casefold, deterministic=True)
        except BaseException:
            conn.close()
            raise
        with self._connections_lock:
            # Threads come and go (executor threads, ad hoc threads): close what they left.
            for thread in [t for t in self._connections if not t.is_alive()]:
                self._connections.pop(thread).close()
            self._connections[threading.current_thread()] = conn
        return conn

    def close(self) -> None:
        """Close every connection; the WAL is checkpointed when the last one closes."""
        with self._write_lock, self._connections_lock:
            self._closed = True
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Queries

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read statement."""
        return self.connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of one read statement, or None."""
        return self.connection().execute(sql, params).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed on exit, rolled back on an exception."""
        conn = self.connection()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors (SQLITE_FULL, IOERR);
                # a failed ROLLBACK must not hide the error that caused it.
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One write statement in its own transaction; returns the rows changed."""
        with self.transaction() as conn:
            return conn.execute(sql, params).rowcount

    # Schema

    @property
    def schema_version(self) -> int:
        return self.query_one("PRAGMA user_version")[0]

    def _migrate(self) -> None:
        try:
            with self.transaction() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise RuntimeError(
                        f"{self.path} has schema version {version}, newer than this "
                        f"nodetool-gateway understands ({SCHEMA_VERSION}); upgrade "
                        "nodetool-gateway or point storage.path elsewhere")
                for number in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[number]:
                        conn.execute(statement)
                # PRAGMA takes no parameters; the value is our own int.
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            self.close()
            raise
