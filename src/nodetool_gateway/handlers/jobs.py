"""Job commands: the runs recorded on this node and their logs."""

from __future__ import annotations

from typing import Any

from ..errors import NotFound
from .context import HandlerContext

__all__ = ["list_jobs", "get_job", "get_job_logs", "start_background_job"]


# Every job command sees only the jobs of the requesting user (the node's node.user_id):
# nodes that share a storage folder, or a node whose user changed, keep the others' apart.
# Another user's job is NOT_FOUND, as if it did not exist.


async def list_jobs(context: HandlerContext, workflow_id: str | None = None,
                    status: str | None = None, limit: int = 100) -> dict[str, Any]:
    """The user's recorded jobs, newest first."""
    return {"jobs": context.backend.jobs.list(workflow_id=workflow_id, status=status, limit=limit,
                                              user_id=context.user_id)}


async def get_job(job_id: str, context: HandlerContext) -> dict[str, Any]:
    """One of the user's jobs: its status, timing, params, outputs and error."""
    job = context.backend.jobs.get(job_id, user_id=context.user_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}; list_jobs shows the recorded ones")
    return job


async def get_job_logs(job_id: str, context: HandlerContext, limit: int = 200) -> dict[str, Any]:
    """The log lines of one of the user's jobs, oldest first."""
    jobs = context.backend.jobs
    if jobs.get(job_id, user_id=context.user_id) is None:
        raise NotFound(f"no job {job_id!r}; list_jobs shows the recorded ones")
    return {"job_id": job_id, "logs": jobs.logs(job_id, limit=limit)}


async def start_background_job(workflow_id: str, context: HandlerContext,
                               params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check the workflow and params as run_workflow does, start it and answer at once;
    get_job follows it."""
    backend = context.backend
    workflow = backend.workflow(workflow_id, None)
    await backend.check(workflow, params)
    job_id = backend.start_background(workflow, params, user_id=context.user_id)
    return {"job_id": job_id, "status": "running", "workflow_id": workflow_id}
