"""The workflow engine: loads NodeTool workflow files, validates them, runs them.

It knows nothing about gateways, sessions or stores: a caller hands it a
workflow, params and an event callback, and gets a :class:`RunResult` back.

- :mod:`.node`: what a node type is (:class:`BaseNode`, :func:`node`).
- :mod:`.registry`: node types by name (:class:`NodeRegistry`).
- :mod:`.graph`: the workflow file as dataclasses (:func:`load_workflow`).
- :mod:`.validate`: what is wrong with a graph (:func:`validate_graph`).
- :mod:`.runner`: running it (:func:`run_workflow`).
"""

from .graph import Graph, GraphEdge, GraphNode, Workflow, WorkflowError, load_graph, load_workflow
from .node import BaseNode, NodeContext, NodeInputs, NodeOutputs, node
from .registry import ModuleSource, NodeRegistry, NodeSource, default_registry
from .runner import EVENT_TYPES, RunResult, run_workflow
from .validate import EngineLimits, Issue, ValidationResult, validate_graph

__all__ = [
    "BaseNode",
    "node",
    "NodeContext",
    "NodeInputs",
    "NodeOutputs",
    "NodeRegistry",
    "NodeSource",
    "ModuleSource",
    "default_registry",
    "Workflow",
    "Graph",
    "GraphNode",
    "GraphEdge",
    "WorkflowError",
    "load_workflow",
    "load_graph",
    "Issue",
    "ValidationResult",
    "EngineLimits",
    "validate_graph",
    "RunResult",
    "EVENT_TYPES",
    "run_workflow",
]
