"""Job commands: the runs recorded on this node and their logs."""

from __future__ import annotations

from typing import Any

from ..errors import NotFound
from .context import HandlerContext

__all__ = ["list_jobs", "get_job", "get_job_logs", "start_background_job"]


async def list_jobs(context: HandlerContext, workflow_id: str | None = None,
                    status: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Recorded jobs, newest first."""
    return {"jobs": context.backend.jobs.list(workflow_id=workflow_id, status=status, limit=limit)}


async def get_job(job_id: str, context: HandlerContext) -> dict[str, Any]:
    """One job: its status, timing, params, outputs and error."""
    job = context.backend.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}; list_jobs shows the recorded ones")
    return job


async def get_job_logs(job_id: str, context: HandlerContext, limit: int = 200) -> dict[str, Any]:
    """A job's log lines, oldest first."""
    jobs = context.backend.jobs
    if jobs.get(job_id) is None:
        raise NotFound(f"no job {job_id!r}; list_jobs shows the recorded ones")
    return {"job_id": job_id, "logs": jobs.logs(job_id, limit=limit)}


async def start_background_job(workflow_id: str, context: HandlerContext,
                               params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Start a workflow and answer at once; get_job follows it."""
    backend = context.backend
    workflow = backend.workflow(workflow_id, None)
    job_id = backend.start_background(workflow, params, user_id=context.user_id)
    return {"job_id": job_id, "status": "running", "workflow_id": workflow_id}
