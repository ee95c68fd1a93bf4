"""Workflow commands: list, inspect, validate and run NodeTool workflows."""

from __future__ import annotations

from typing import Any

from ._backend import unavailable

__all__ = ["list_workflows", "get_workflow", "run_workflow", "validate_workflow",
           "run_workflow_request"]


async def list_workflows(query: str | None = None, limit: int = 100) -> Any:
    raise unavailable("list_workflows")


async def get_workflow(workflow_id: str) -> Any:
    raise unavailable("get_workflow")


async def run_workflow(workflow_id: str | None = None, graph: dict | None = None,
                       params: dict[str, Any] | None = None) -> Any:
    raise unavailable("run_workflow")


async def validate_workflow(workflow_id: str | None = None, graph: dict | None = None) -> Any:
    raise unavailable("validate_workflow")


async def run_workflow_request(workflow_id: str | None = None, graph: dict | None = None,
                               params: dict[str, Any] | None = None, **_: Any) -> Any:
    raise unavailable("workflow_request")
