"""Job commands: the runs recorded on this node and their logs."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidArgs, NotFound
from ._args import UserId, check_user, ignored
from .context import HandlerContext

__all__ = ["list_jobs", "get_job", "get_job_logs", "start_background_job"]


# Every job command sees only the jobs of the requesting user (the node's node.user_id):
# nodes that share a storage folder, or a node whose user changed, keep the others' apart.
# Another user's job is NOT_FOUND, as if it did not exist.


# Enough for "every job": start_key pages through the whole filtered list.
_ALL = 2 ** 31


async def list_jobs(context: HandlerContext, workflow_id: str | None = None,
                    status: str | None = None, limit: int = 100,
                    start_key: str | None = None, user_id: UserId = None) -> dict[str, Any]:
    """The user's recorded jobs, newest first.

    NodeTool's ``start_key`` pages: the jobs after that job id, in the same order
    and with the same filters (a job id not among them is INVALID_ARGS).
    """
    check_user(context, user_id)
    jobs = context.backend.jobs
    if start_key is None:
        return {"jobs": jobs.list(workflow_id=workflow_id, status=status, limit=limit,
                                  user_id=context.user_id)}
    every = jobs.list(workflow_id=workflow_id, status=status, limit=_ALL, user_id=context.user_id)
    ids = [j["id"] for j in every]
    if start_key not in ids:
        raise InvalidArgs(f"start_key {start_key!r} is not a job list_jobs lists with these filters")
    start = ids.index(start_key) + 1
    return {"jobs": every[start:start + max(limit, 0)]}


async def get_job(job_id: str, context: HandlerContext, user_id: UserId = None) -> dict[str, Any]:
    """One of the user's jobs: its status, timing, params, outputs and error."""
    check_user(context, user_id)
    job = context.backend.jobs.get(job_id, user_id=context.user_id)
    if job is None:
        raise NotFound(f"no job {job_id!r}; list_jobs shows the recorded ones")
    return job


async def get_job_logs(job_id: str, context: HandlerContext, limit: int = 200,
                       user_id: UserId = None) -> dict[str, Any]:
    """The log lines of one of the user's jobs, oldest first."""
    check_user(context, user_id)
    jobs = context.backend.jobs
    if jobs.get(job_id, user_id=context.user_id) is None:
        raise NotFound(f"no job {job_id!r}; list_jobs shows the recorded ones")
    return {"job_id": job_id, "logs": jobs.logs(job_id, limit=limit)}


async def start_background_job(workflow_id: str, context: HandlerContext,
                               params: dict[str, Any] | None = None,
                               execution_strategy: str | None = None,
                               user_id: UserId = None) -> dict[str, Any]:
    """Check the workflow and params as run_workflow does, start it and answer at once;
    get_job follows it. NodeTool's ``execution_strategy`` is ignored: ``engine.isolation``
    decides where a job runs."""
    check_user(context, user_id)
    if execution_strategy is not None:
        ignored(context, "execution_strategy", execution_strategy,
                "engine.isolation decides where jobs run")
    backend = context.backend
    workflow = backend.workflow(workflow_id, None)
    await backend.check(workflow, params)
    job_id = backend.start_background(workflow, params, user_id=context.user_id)
    return {"job_id": job_id, "status": "running", "workflow_id": workflow_id}
