"""Job commands: the runs recorded on this node and their logs."""

from __future__ import annotations

from typing import Any

from ._backend import unavailable

__all__ = ["list_jobs", "get_job", "get_job_logs", "start_background_job"]


async def list_jobs(workflow_id: str | None = None, status: str | None = None,
                    limit: int = 100) -> Any:
    raise unavailable("list_jobs")


async def get_job(job_id: str) -> Any:
    raise unavailable("get_job")


async def get_job_logs(job_id: str, limit: int = 200) -> Any:
    raise unavailable("get_job_logs")


async def start_background_job(workflow_id: str, params: dict[str, Any] | None = None) -> Any:
    raise unavailable("start_background_job")
