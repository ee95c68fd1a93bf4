"""Jobs (workflow runs) and their log lines, in SQLite."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any, Iterable, Mapping

from .database import Database, now_iso, to_iso

__all__ = ["JobStore", "INTERRUPTED"]

INTERRUPTED = "interrupted: the node stopped while the job ran"

_SUMMARY = "id, workflow_id, status, started_at, finished_at, error, user_id"


def _dumps(value: Any) -> str:
    # Outputs may hold values JSON cannot carry (bytes, objects): recording that
    # the job finished matters more than keeping those exactly, so they become text.
    return json.dumps(value, ensure_ascii=False, default=str)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class JobStore:
    """Recorded jobs, in NodeTool's shape, and their logs.

    Times are ISO 8601 in UTC with the offset (``2025-06-10T16:23:25.084534+00:00``).
    """

    def __init__(self, db: Database):
        self.db = db

    def create(self, job_id: str, workflow_id: str | None, params: Mapping[str, Any] | None = None,
               user_id: str | None = None) -> dict[str, Any]:
        """Record a job that starts now, status ``running``.

        Raises ValueError if ``job_id`` is already recorded.
        """
        try:
            self.db.execute(
                "INSERT INTO jobs (id, workflow_id, status, params, user_id, started_at)"
                " VALUES (?, ?, 'running', ?, ?, ?)",
                (job_id, workflow_id, _dumps(dict(params or {})), user_id, now_iso()))
        except sqlite3.IntegrityError:
            raise ValueError(f"job {job_id!r} is already recorded; use a new job id") from None
        return self.get(job_id)

    def finish(self, job_id: str, status: str, *, outputs: Mapping[str, Any] | None = None,
               error: str | None = None) -> dict[str, Any]:
        """Record the end of a job (``completed``, ``failed``, ``cancelled``...).

        Raises KeyError for a job that was never created.
        """
        changed = self.db.execute(
            "UPDATE jobs SET status = ?, outputs = ?, error = ?, finished_at = ? WHERE id = ?",
            (status, None if outputs is None else _dumps(dict(outputs)), error, now_iso(), job_id))
        if not changed:
            raise KeyError(f"no job {job_id!r}")
        return self.get(job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        """``{id, workflow_id, status, started_at, finished_at, error, params, outputs, user_id}``."""
        row = self.db.query_one(f"SELECT {_SUMMARY}, params, outputs FROM jobs WHERE id = ?",
                                (job_id,))
        if row is None:
            return None
        job = dict(row)
        job["params"] = _loads(job["params"]) or {}
        job["outputs"] = _loads(job["outputs"])
        return job

    def list(self, workflow_id: str | None = None, status: str | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
        """Jobs newest first, without params and outputs."""
        where, args = [], []
        if workflow_id is not None:
            where.append("workflow_id = ?")
            args.append(workflow_id)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = f"SELECT {_SUMMARY} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        return [dict(r) for r in self.db.query(sql, (*args, max(0, int(limit))))]

    def recover(self) -> int:
        """Mark jobs a previous process left ``running`` as ``failed``; returns how many.

        Call once on start, before this process creates jobs.
        """
        return self.db.execute(
            "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE status = 'running'",
            (INTERRUPTED, now_iso()))

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
        (KeyError).
        """
        values = [(r["job_id"], to_iso(r.get("time")), r.get("node_id"),
                   r.get("severity") or "info", str(r.get("content", "")))
                  for r in rows]
        if not values:
            return 0
        try:
            with self.db.transaction() as conn:
                conn.executemany(
                    "INSERT INTO job_logs (job_id, time, node_id, severity, content)"
                    " VALUES (?, ?, ?, ?, ?)", values)
        except sqlite3.IntegrityError:
            unknown = sorted({v[0] for v in values} - self._known({v[0] for v in values}))
            raise KeyError(f"no job {', '.join(map(repr, unknown)) or '?'}: log lines not written") from None
        return len(values)

    def logs(self, job_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """The last ``limit`` log lines of a job, oldest first: ``[{time, node_id, severity, content}]``."""
        rows = self.db.query(
            "SELECT time, node_id, severity, content FROM ("
            " SELECT id, time, node_id, severity, content FROM job_logs WHERE job_id = ?"
            " ORDER BY time DESC, id DESC LIMIT ?"
            ") ORDER BY time, id", (job_id, max(0, int(limit))))
        return [dict(r) for r in rows]

    def _known(self, job_ids: set[str]) -> set[str]:
        marks = ", ".join("?" * len(job_ids))
        return {r[0] for r in self.db.query(f"SELECT id FROM jobs WHERE id IN ({marks})",
                                            tuple(job_ids))}
