"""Default routes: every built-in command and ``workflow_request``.

A config file adds to, overrides or disables (``null``) these entries.
"""

from __future__ import annotations

__all__ = ["DEFAULT_COMMANDS", "DEFAULT_ROUTES"]

_H = "nodetool_gateway.handlers"

# command name -> route (handler, timeout, concurrency)
DEFAULT_COMMANDS: dict[str, dict[str, object]] = {
    "list_workflows": {"handler": f"{_H}.workflows:list_workflows", "timeout": "30s"},
    "get_workflow": {"handler": f"{_H}.workflows:get_workflow", "timeout": "30s"},
    "run_workflow": {"handler": f"{_H}.workflows:run_workflow", "timeout": "1h", "concurrency": 4},
    "validate_workflow": {"handler": f"{_H}.workflows:validate_workflow", "timeout": "30s"},
    "list_jobs": {"handler": f"{_H}.jobs:list_jobs", "timeout": "30s"},
    "get_job": {"handler": f"{_H}.jobs:get_job", "timeout": "30s"},
    "get_job_logs": {"handler": f"{_H}.jobs:get_job_logs", "timeout": "30s"},
    "start_background_job": {"handler": f"{_H}.jobs:start_background_job", "timeout": "30s"},
    "list_assets": {"handler": f"{_H}.assets:list_assets", "timeout": "30s"},
    "get_asset": {"handler": f"{_H}.assets:get_asset", "timeout": "30s"},
    "list_nodes": {"handler": f"{_H}.nodes:list_nodes", "timeout": "30s"},
    "search_nodes": {"handler": f"{_H}.nodes:search_nodes", "timeout": "30s"},
    "get_node_info": {"handler": f"{_H}.nodes:get_node_info", "timeout": "30s"},
    "list_models": {"handler": f"{_H}.models:list_models", "timeout": "30s"},
    "list_collections": {"handler": f"{_H}.collections:list_collections", "timeout": "30s"},
    "get_collection": {"handler": f"{_H}.collections:get_collection", "timeout": "30s"},
}

# message type -> route
DEFAULT_ROUTES: dict[str, dict[str, object]] = {
    "workflow_request": {
        "handler": f"{_H}.workflows:run_workflow_request",
        "timeout": "1h",
        "concurrency": 4,
    },
}
