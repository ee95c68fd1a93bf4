"""Workflow commands: list, inspect, validate and run NodeTool workflows."""

from __future__ import annotations

from typing import Any

from ..errors import Code, HandlerError, InvalidArgs
from ._args import Offset, UserId, check_user
from .context import HandlerContext

__all__ = ["list_workflows", "get_workflow", "run_workflow", "validate_workflow",
           "run_workflow_request"]


# NodeTool's workflow_type values, and which of the node's workflows each one lists.
_WORKFLOW_TYPES = {"user": "user", "example": "bundled", "examples": "bundled"}


async def list_workflows(context: HandlerContext, query: str | None = None,
                         limit: int = 100, offset: Offset = 0,
                         workflow_type: str | None = None,
                         user_id: UserId = None) -> dict[str, Any]:
    """The workflows this node can run (its folders plus the bundled examples).

    NodeTool's ``workflow_type``: ``"user"`` lists the node's workflow folders only,
    ``"example"``/``"examples"`` the bundled examples only; not given, both.
    """
    check_user(context, user_id)
    source = None
    if workflow_type is not None:
        source = _WORKFLOW_TYPES.get(workflow_type)
        if source is None:
            raise InvalidArgs(f"workflow_type {workflow_type!r} is not one of "
                              + ", ".join(repr(t) for t in _WORKFLOW_TYPES))
    workflows, total = context.backend.workflows.list(query=query, limit=limit, offset=offset,
                                                      source=source)
    return {"workflows": workflows, "total": total}


async def get_workflow(workflow_id: str, context: HandlerContext,
                       user_id: UserId = None) -> dict[str, Any]:
    """One workflow: its graph and its input and output schemas."""
    check_user(context, user_id)
    backend = context.backend
    workflow = backend.workflow(workflow_id, None)
    result = dict(workflow)
    if not result.get("input_schema") or not result.get("output_schema"):
        derived_in, derived_out = _schemas(workflow, backend.registry)
        result["input_schema"] = result.get("input_schema") or derived_in
        result["output_schema"] = result.get("output_schema") or derived_out
    return result


async def run_workflow(context: HandlerContext, workflow_id: str | None = None,
                       graph: dict | None = None,
                       params: dict[str, Any] | None = None,
                       user_id: UserId = None) -> dict[str, Any]:
    """Run a workflow, streaming its updates; answer with its outputs and job id."""
    check_user(context, user_id)
    return await _run(context, workflow_id, graph, params)


async def run_workflow_request(context: HandlerContext, workflow_id: str | None = None,
                               graph: dict | None = None,
                               params: dict[str, Any] | None = None,
                               user_id: UserId = None) -> dict[str, Any]:
    """The ``workflow_request`` message: the same as ``run_workflow``, and the same
    ``user_id`` rule (the node's own user, or none)."""
    check_user(context, user_id)
    return await _run(context, workflow_id, graph, params)


async def validate_workflow(context: HandlerContext, workflow_id: str | None = None,
                            graph: dict | None = None,
                            user_id: UserId = None) -> dict[str, Any]:
    """Check a workflow without running it."""
    check_user(context, user_id)
    from ..engine import WorkflowError, load_workflow, validate_graph
    from ..engine.validate import prepare_graph

    backend = context.backend
    workflow = backend.workflow(workflow_id, graph)
    try:
        wf = load_workflow(workflow)
    except WorkflowError as exc:
        return {"valid": False, "errors": [str(exc)], "warnings": [],
                "summary": {"total_nodes": 0, "total_edges": 0}}
    services = backend.services
    result = validate_graph(wf.graph, backend.registry, limits=backend.limits, services=services)
    if result.valid:
        prepared = await prepare_graph(wf.graph, backend.registry, services)
        result.errors += prepared.errors
        result.valid = prepared.valid
    return result.as_dict()


async def _run(context: HandlerContext, workflow_id: str | None, graph: dict | None,
               params: dict[str, Any] | None) -> dict[str, Any]:
    import uuid

    backend = context.backend
    workflow = backend.workflow(workflow_id, graph)
    context.job_id = uuid.uuid4().hex

    async def on_event(event: dict[str, Any]) -> None:
        await context.send_update(event["type"], event)

    result = await backend.run(workflow, params, user_id=context.user_id, job_id=context.job_id,
                               on_event=on_event)
    # A job the store could not write (a full disk) says so, rather than vanishing.
    unrecorded = backend.jobs.record_error(result["job_id"])
    extra = {} if unrecorded is None else {"record_error": unrecorded}
    if result["status"] != "completed":
        raise HandlerError(f"workflow {result['status']}: {result['error']}",
                           code=Code.HANDLER_ERROR,
                           details={"job_id": result["job_id"], "status": result["status"],
                                    "node_id": result["error_node_id"], **extra})
    return {"job_id": result["job_id"], "status": result["status"], "outputs": result["outputs"],
            **extra}


def _schemas(workflow: dict[str, Any], registry) -> tuple[dict, dict]:
    """JSON schemas of a workflow's inputs and outputs, from its input and output nodes."""
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for node in (workflow.get("graph") or {}).get("nodes", []):
        ntype = node.get("type", "")
        data = node.get("data") or {}
        name = data.get("name") or node.get("id")
        if ntype in ("nodetool.input.GroupInput", "nodetool.output.GroupOutput"):
            continue  # a group loop's ends, not the workflow's
        if ntype.startswith("nodetool.input."):
            cls = registry.get(ntype)
            field = cls.model_fields.get("value") if cls is not None else None
            schema: dict[str, Any] = {"type": _json_type(field.annotation if field else None)}
            if "value" in data:
                schema["default"] = data["value"]
            if data.get("description"):
                schema["description"] = data["description"]
            inputs[name] = schema
        elif ntype.startswith("nodetool.output."):
            outputs[name] = {"description": data.get("description") or ""}
    return ({"type": "object", "properties": inputs},
            {"type": "object", "properties": outputs})


def _json_type(annotation: Any) -> str | list[str]:
    names = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array",
             dict: "object"}
    return names.get(getattr(annotation, "__origin__", annotation), "any") if annotation else "any"
