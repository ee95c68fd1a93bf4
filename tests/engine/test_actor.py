"""The actor's shortcuts around pydantic, and a run's memory, checked against the slow way."""

from __future__ import annotations

import gc
import weakref
from typing import Any, Literal, Optional

import pytest
from pydantic import Field, ValidationError, field_validator

from nodetool_gateway.engine import (
    BaseNode,
    Graph,
    GraphEdge,
    GraphNode,
    NodeRegistry,
    run_workflow,
    runner,
)
from nodetool_gateway.engine._actor import NodeActor, NodeInputError


class Mixed(BaseNode):
    node_type = "test.actor.Mixed"
    f: float = 0.5
    i: int = 1
    s: str = "x"
    b: bool = False
    of: Optional[float] = None  # noqa: UP045 - typing.Optional, not X | None, on purpose
    fs: float | str = 0.0
    a: Any = None
    items: list[int] = []  # noqa: RUF012 - pydantic copies it
    table: dict[str, Any] = {"k": [1]}  # noqa: RUF012
    made: list[str] = Field(default_factory=list)
    choice: Literal["a", "b"] = "a"
    positive: float = Field(default=1.0, gt=0)
    needed: str

    async def process(self, context: Any) -> Any:
        return None


class Checked(BaseNode):
    node_type = "test.actor.Checked"
    s: str = ""
    f: float = 0

    @field_validator("s")
    @classmethod
    def upper(cls, v: str) -> str:
        return v.upper()

    async def process(self, context: Any) -> Any:
        return None


VALUES: list[tuple[str, Any]] = [
    ("f", 2.5), ("f", 3), ("f", True), ("f", "4.5"), ("f", 10 ** 400), ("i", 7), ("i", 2.0),
    ("i", True), ("s", "hi"), ("s", 5), ("b", True), ("b", 1), ("of", None), ("of", 2),
    ("fs", 1), ("fs", "t"), ("a", [1, 2]), ("items", [1, "2"]), ("choice", "b"),
    ("choice", "z"), ("positive", 2), ("positive", -1), ("needed", "yes"), ("unknown", 1),
]


def slow_way(cls: type[BaseNode], data: dict[str, Any]) -> BaseNode | str:
    """What the engine did before its shortcuts: model_construct, then validated assignment."""
    node = cls.model_construct()
    for key, value in data.items():
        if key in cls.properties():
            try:
                cls.__pydantic_validator__.validate_assignment(node, key, value)
            except ValidationError:
                return f"ValidationError on {key}"
    node.dynamic_properties = {}
    return node


def fast_way(cls: type[BaseNode], data: dict[str, Any]) -> BaseNode | str:
    run = runner._Run(job_id="j", workflow_id=None, user_id="1", registry=NodeRegistry(),
                      on_event=None, events=None)
    actor = NodeActor(run, GraphNode(id="n", type=cls.node_type, data=data), cls, data)
    try:
        return actor._build()
    except NodeInputError as exc:
        return f"ValidationError on {str(exc).split(chr(39))[1]}"


def state(node: BaseNode | str) -> Any:
    if isinstance(node, str):
        return node
    return ({k: (v, type(v)) for k, v in node.__dict__.items()}, node.model_fields_set,
            node.__pydantic_extra__, node.__pydantic_private__)


@pytest.mark.parametrize("cls", [Mixed, Checked])
@pytest.mark.parametrize("key,value", VALUES)
def test_builds_a_node_as_pydantic_would(cls, key, value):
    assert state(fast_way(cls, {key: value})) == state(slow_way(cls, {key: value}))


def test_gives_each_node_its_own_mutable_defaults():
    first, second = fast_way(Mixed, {}), fast_way(Mixed, {})
    assert isinstance(first, Mixed) and isinstance(second, Mixed)
    assert first.items == [] and first.items is not second.items
    assert first.table == {"k": [1]} and first.table["k"] is not second.table["k"]
    assert first.made is not second.made
    assert first.dynamic_outputs is not second.dynamic_outputs


class Source(BaseNode):
    node_type = "test.actor.Source"

    async def process(self, context: Any) -> int:
        return 1


class Sink(BaseNode):
    node_type = "nodetool.output.Output"
    name: str = ""
    value: Any = None


def _source_to_sink() -> tuple[NodeRegistry, Graph]:
    reg = NodeRegistry()
    for cls in (Source, Sink):
        reg.register(cls)
    graph = Graph(nodes=[GraphNode(id="a", type=Source.node_type),
                         GraphNode(id="out", type=Sink.node_type, data={"name": "r"})],
                  edges=[GraphEdge(id="e", source="a", source_handle="output", target="out",
                                   target_handle="value")])
    return reg, graph


async def test_a_finished_run_is_freed_without_the_garbage_collector(monkeypatch):
    reg, graph = _source_to_sink()
    runs: list[weakref.ref] = []
    plan = runner._Run.plan

    def recording(self, *args):
        runs.append(weakref.ref(self))
        return plan(self, *args)

    monkeypatch.setattr(runner._Run, "plan", recording)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        result = await run_workflow(graph, registry=reg, on_event=[].append)
        assert result.outputs == {"r": [1]}
        assert runs and runs[0]() is None  # no reference cycle kept the run alive
    finally:
        if was_enabled:
            gc.enable()


async def test_keeps_running_when_an_async_listener_raises():
    """The events every node sends are awaited without the usual guard coroutine; a
    listener's failure still leaves the run alone."""
    reg, graph = _source_to_sink()
    seen: list[str] = []

    async def broken(event: dict) -> None:
        seen.append(event.get("status", event["type"]))
        raise RuntimeError("listener bug")

    result = await run_workflow(graph, registry=reg, on_event=broken)
    assert result.status == "completed" and result.outputs == {"r": [1]}
    assert seen.count("completed") == 3  # both nodes and the job
