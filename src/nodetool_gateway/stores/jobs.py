"""Jobs (workflow runs) and their log lines, in SQLite."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import OrderedDict, deque
from datetime import datetime
from typing import Any, Iterable, Mapping

from .database import Database, now_iso, to_iso

__all__ = ["JobStore", "INTERRUPTED"]

log = logging.getLogger("nodetool.gateway.jobs")

INTERRUPTED = "interrupted: the node stopped while the job ran"

_SUMMARY = "id, workflow_id, status, started_at, finished_at, error, user_id"
_SUMMARY_KEYS = ("id", "workflow_id", "status", "started_at", "finished_at", "error", "user_id")
# Bounds on what is kept in memory when the database refuses writes.
_MEMORY_JOBS = 1000
_MEMORY_LOGS = 1000


def _dumps(value: Any) -> str:
    # Outputs may hold values JSON cannot carry (bytes, objects): recording that
    # the job finished matters more than keeping those exactly, so they become text.
    return json.dumps(value, ensure_ascii=False, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _reason(exc: sqlite3.Error) -> str:
    return str(exc) or type(exc).__name__


class JobStore:
    """Recorded jobs, in NodeTool's shape, and their logs.

    Times are ISO 8601 in UTC with the offset (``2025-06-10T16:23:25.084534+00:00``).

    When the database refuses a write (a full disk, a read-only file), the job is
    kept in memory instead, so :meth:`get`, :meth:`list` and :meth:`logs` still know
    it while this store lives; its dict then has ``record_error`` saying why it is
    not recorded, and each refused write logs one warning line. ``node_id`` marks
    the jobs this node runs, so :meth:`recover` leaves other nodes' jobs alone.
    """

    def __init__(self, db: Database, *, node_id: str | None = None):
        self.db = db
        self.node_id = node_id
        self._lock = threading.Lock()
        self._unsaved: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._unsaved_logs: dict[str, deque[dict[str, Any]]] = {}

    def create(self, job_id: str, workflow_id: str | None, params: Mapping[str, Any] | None = None,
               user_id: str | None = None) -> dict[str, Any]:
        """Record a job that starts now, status ``running``.

        Raises ValueError if ``job_id`` is already recorded.
        """
        params_text = _dumps(dict(params or {}))
        started = now_iso()
        if job_id in self._unsaved:
            raise ValueError(f"job {job_id!r} is already recorded; use a new job id")
        try:
            self.db.execute(
                "INSERT INTO jobs (id, workflow_id, status, params, user_id, started_at, node_id)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (job_id, workflow_id, params_text, user_id, started, self.node_id))
        except sqlite3.IntegrityError:
            raise ValueError(f"job {job_id!r} is already recorded; use a new job id") from None
        except sqlite3.DatabaseError as exc:
            job = {"id": job_id, "workflow_id": workflow_id, "status": "running",
                   "started_at": started, "finished_at": None, "error": None,
                   "user_id": user_id, "params": json.loads(params_text), "outputs": None}
            return self._keep(job, "job", exc)
        return self.get(job_id)

    def finish(self, job_id: str, status: str, *, outputs: Mapping[str, Any] | None = None,
               error: str | None = None) -> dict[str, Any]:
        """Record the end of a job (``completed``, ``failed``, ``cancelled``...).

        Raises KeyError for a job that was never created.
        """
        outputs_text = None if outputs is None else _dumps(dict(outputs))
        end = {"status": status, "outputs": _loads(outputs_text), "error": error,
               "finished_at": now_iso()}
        kept = self._unsaved.get(job_id)
        if kept is not None:
            # The database may take writes again: record the whole job now.
            job = {**kept, **end}
            job.pop("record_error", None)
            try:
                with self.db.transaction() as conn:
                    conn.execute(
                        "INSERT OR REPLACE INTO jobs (id, workflow_id, status, params, outputs,"
                        " error, user_id, started_at, finished_at, node_id)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (job_id, job["workflow_id"], status, _dumps(job["params"]), outputs_text,
                         error, job["user_id"], job["started_at"], end["finished_at"],
                         self.node_id))
                    self._write_kept_logs(conn, job_id)
            except sqlite3.DatabaseError as exc:
                return self._keep(job, "end of job", exc)
            with self._lock:
                self._unsaved.pop(job_id, None)
                self._unsaved_logs.pop(job_id, None)
            return self.get(job_id)
        try:
            with self.db.transaction() as conn:
                changed = conn.execute(
                    "UPDATE jobs SET status = ?, outputs = ?, error = ?, finished_at = ?"
                    " WHERE id = ?",
                    (status, outputs_text, error, end["finished_at"], job_id)).rowcount
                if changed:
                    self._write_kept_logs(conn, job_id)
        except sqlite3.DatabaseError as exc:
            try:
                job = self._read(job_id)
            except sqlite3.DatabaseError:  # unreadable too: keep what this call knows
                job = {"id": job_id, "workflow_id": None, "started_at": end["finished_at"],
                       "user_id": None, "params": {}}
            if job is None:
                raise KeyError(f"no job {job_id!r}") from None
            return self._keep({**job, **end}, "end of job", exc)
        if not changed:
            raise KeyError(f"no job {job_id!r}")
        with self._lock:
            self._unsaved_logs.pop(job_id, None)
        return self.get(job_id)

    def get(self, job_id: str, *, user_id: str | None = None) -> dict[str, Any] | None:
        """``{id, workflow_id, status, started_at, finished_at, error, params, outputs, user_id}``.

        With ``user_id``, another user's job is None too. A job the database
        refused also has ``record_error``.
        """
        kept = self._unsaved.get(job_id)
        if kept is not None:
            job = json.loads(json.dumps(kept))
        else:
            job = self._read(job_id)
        if job is None or (user_id is not None and job["user_id"] != user_id):
            return None
        return job

    def record_error(self, job_id: str) -> str | None:
        """Why the job is not (wholly) recorded in the database, or None if it is."""
        kept = self._unsaved.get(job_id)
        return None if kept is None else kept["record_error"]

    def _read(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.query_one(f"SELECT {_SUMMARY}, params, outputs FROM jobs WHERE id = ?",
                                (job_id,))
        if row is None:
            return None
        job = dict(row)
        job["params"] = _loads(job["params"]) or {}
        job["outputs"] = _loads(job["outputs"])
        return job

    def _keep(self, job: dict[str, Any], what: str, exc: sqlite3.Error) -> dict[str, Any]:
        """Keep a job the database refused in memory; one warning line says so."""
        reason = _reason(exc)
        # Without the path: this text goes back to the gateway.
        job = {**job, "record_error": f"not recorded: {reason}; kept in memory until the node stops"}
        with self._lock:
            self._unsaved[job["id"]] = job
            self._unsaved.move_to_end(job["id"])
            while len(self._unsaved) > _MEMORY_JOBS:
                dropped, _ = self._unsaved.popitem(last=False)
                self._unsaved_logs.pop(dropped, None)
        self._warn(f"could not record the {what} {job['id']} in {self.db.path}: {reason}; "
                   "kept in memory until the node stops", exc)
        return json.loads(json.dumps(job))

    @staticmethod
    def _warn(message: str, exc: BaseException) -> None:
        # One line per failure: a full disk fails every write, and tracebacks would bury the cause.
        log.warning("%s", message, exc_info=exc if log.isEnabledFor(logging.DEBUG) else None)

    def list(self, workflow_id: str | None = None, status: str | None = None,
             limit: int = 100, *, user_id: str | None = None) -> list[dict[str, Any]]:
        """Jobs newest first, without params and outputs; with ``user_id``, only that user's."""
        limit = max(0, int(limit))
        where, args = [], []
        if workflow_id is not None:
            where.append("workflow_id = ?")
            args.append(workflow_id)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        sql = f"SELECT {_SUMMARY} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        kept = [j for j in list(self._unsaved.values())
                if (workflow_id is None or j["workflow_id"] == workflow_id)
                and (status is None or j["status"] == status)
                and (user_id is None or j["user_id"] == user_id)]
        rows = [dict(r) for r in self.db.query(sql, (*args, limit + len(self._unsaved)))]
        if not self._unsaved:
            return rows[:limit]
        # The database may hold an older state of a kept job: the memory's wins.
        rows = [r for r in rows if r["id"] not in self._unsaved]
        rows += [{**{k: j[k] for k in _SUMMARY_KEYS}, "record_error": j["record_error"]}
                 for j in kept]
        rows.sort(key=lambda r: r["started_at"], reverse=True)
        return rows[:limit]

    def recover(self) -> int:
        """Mark this node's jobs a previous process left ``running`` as ``failed``; returns how many.

        Jobs of other nodes sharing the database are left alone (they may be running);
        jobs recorded without a node (by an older version) count as this node's.
        Call once on start, before this process creates jobs.
        """
        sql = "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE status = 'running'"
        args: tuple[Any, ...] = (INTERRUPTED, now_iso())
        if self.node_id is not None:
            sql += " AND (node_id = ? OR node_id IS NULL)"
            args += (self.node_id,)
        try:
            return self.db.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            self._warn(f"could not mark interrupted jobs failed in {self.db.path}: {_reason(exc)}",
                       exc)
            return 0

    def counts(self) -> dict[str, int]:
        """How many of this node's recorded jobs are in each status (for metrics)."""
        sql, args = "SELECT status, COUNT(*) FROM jobs", ()
        if self.node_id is not None:
            sql, args = sql + " WHERE node_id = ? OR node_id IS NULL", (self.node_id,)
        return {row[0]: row[1] for row in self.db.query(sql + " GROUP BY status", args)}

    # Logs

    def add_log(self, job_id: str, content: str, *, node_id: str | None = None,
                severity: str = "info", time: datetime | str | float | None = None) -> None:
        """Append one log line to a job (KeyError if the job is not recorded)."""
        self.add_logs([{"job_id": job_id, "content": content, "node_id": node_id,
                        "severity": severity, "time": time}])

    def add_logs(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append log lines in one transaction; returns how many.

        Each row is ``{job_id, content, node_id?, severity?, time?}``; ``time``
        defaults to now. If one row names an unknown job none are written
        (KeyError). Lines the database refuses are kept in memory with their job.
        """
        values = [(r["job_id"], to_iso(r.get("time")), r.get("node_id"),
                   r.get("severity") or "info", str(r.get("content", "")))
                  for r in rows]
        if not values:
            return 0
        kept = [v for v in values if v[0] in self._unsaved]
        written = [v for v in values if v[0] not in self._unsaved]
        if written:
            try:
                with self.db.transaction() as conn:
                    conn.executemany(
                        "INSERT INTO job_logs (job_id, time, node_id, severity, content)"
                        " VALUES (?, ?, ?, ?, ?)", written)
            except sqlite3.IntegrityError:
                unknown = sorted({v[0] for v in written} - self._known({v[0] for v in written}))
                raise KeyError(f"no job {', '.join(map(repr, unknown)) or '?'}: "
                               "log lines not written") from None
            except sqlite3.DatabaseError as exc:
                jobs = ", ".join(sorted({v[0] for v in written}))
                self._warn(f"could not record {len(written)} log line(s) of job {jobs} in "
                           f"{self.db.path}: {_reason(exc)}; kept in memory until the node stops",
                           exc)
                kept += written
        with self._lock:
            for job_id, time, node_id, severity, content in kept:
                lines = self._unsaved_logs.setdefault(job_id, deque(maxlen=_MEMORY_LOGS))
                lines.append({"time": time, "node_id": node_id, "severity": severity,
                              "content": content})
        return len(values)

    def logs(self, job_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The last ``limit`` log lines of a job, oldest first: ``[{time, node_id, severity, content}]``."""
        limit = max(0, int(limit))
        rows = [dict(r) for r in self.db.query(
            "SELECT time, node_id, severity, content FROM ("
            " SELECT id, time, node_id, severity, content FROM job_logs WHERE job_id = ?"
            " ORDER BY time DESC, id DESC LIMIT ?"
            ") ORDER BY time, id", (job_id, limit))]
        kept = self._unsaved_logs.get(job_id)
        if not kept:
            return rows
        rows += [dict(line) for line in list(kept)]
        rows.sort(key=lambda r: r["time"])
        return rows[-limit:] if limit else []

    def _write_kept_logs(self, conn: sqlite3.Connection, job_id: str) -> None:
        lines = list(self._unsaved_logs.get(job_id, ()))
        if lines:
            conn.executemany(
                "INSERT INTO job_logs (job_id, time, node_id, severity, content)"
                " VALUES (?, ?, ?, ?, ?)",
                [(job_id, r["time"], r["node_id"], r["severity"], r["content"]) for r in lines])

    def _known(self, job_ids: set[str]) -> set[str]:
        marks = ", ".join("?" * len(job_ids))
        return {r[0] for r in self.db.query(f"SELECT id FROM jobs WHERE id IN ({marks})",
                                            tuple(job_ids))}
