"""Small node types for the engine tests, independent of the core library."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypedDict

from nodetool_gateway.engine import BaseNode, Graph, GraphEdge, GraphNode, NodeRegistry, node

NAMESPACE = "test"


class Probe:
    """Lets a test see inside running nodes: who started, who got cancelled."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.calls: list[tuple[str, Any]] = []
        self.running = asyncio.Event()


class Const(BaseNode):
    """Returns its value."""

    value: Any = None

    async def process(self, context: Any) -> Any:
        return self.value


class Add(BaseNode):
    """Adds two numbers (a plain, synchronous process)."""

    a: float = 0
    b: float = 0

    def process(self, context: Any) -> float:
        return self.a + self.b


class SlowAdd(BaseNode):
    """Adds two numbers after a nap."""

    a: float = 0
    b: float = 0
    delay: float = 0.2

    async def process(self, context: Any) -> float:
        await asyncio.sleep(self.delay)
        return self.a + self.b


class Fail(BaseNode):
    """Always raises."""

    value: Any = None
    message: str = "boom"

    async def process(self, context: Any) -> Any:
        raise RuntimeError(self.message)


class Blocker(BaseNode):
    """Waits (nearly) forever, telling its probe when it starts and when it is cancelled."""

    value: Any = None
    probe: Any = None

    async def process(self, context: Any) -> Any:
        self.probe.started.append(context.node_id)
        self.probe.running.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.probe.cancelled.append(context.node_id)
            raise
        return self.value


class Item(TypedDict):
    output: int
    index: int


class Count(BaseNode):
    """Streams 0, step, 2*step, ... (n items) with their index."""

    n: int = 3
    step: int = 10

    async def gen_process(self, context: Any) -> AsyncIterator[Item]:
        for i in range(self.n):
            await asyncio.sleep(0)
            yield {"output": i * self.step, "index": i}


class SyncCount(BaseNode):
    """Streams 0..n-1 from a plain (synchronous) generator."""

    n: int = 3

    def gen_process(self, context: Any) -> Iterator[Item]:
        for i in range(self.n):
            yield {"output": i, "index": i}


class ThreadLog(BaseNode):
    """Logs from a worker thread."""

    async def process(self, context: Any) -> str:
        await asyncio.to_thread(context.log, "from a thread")
        return "ok"


class Each(BaseNode):
    """Streams the items of a list (like ForEach)."""

    input_list: list[Any] = []

    async def gen_process(self, context: Any) -> AsyncIterator[Item]:
        for i, item in enumerate(self.input_list):
            yield {"output": item, "index": i}


class Collect(BaseNode):
    """Gathers a stream into a list once it ends."""

    input_item: Any = None
    output_types = {"output": list[Any]}

    async def run(self, context: Any, inputs: Any, outputs: Any) -> None:
        items = [item async for item in inputs.stream("input_item")]
        await outputs.emit("output", items)


class Triple(BaseNode):
    """Returns [a, b, c]: shows which values ran together."""

    a: Any = None
    b: Any = None
    c: Any = None

    async def process(self, context: Any) -> list:
        return [self.a, self.b, self.c]


class Split(TypedDict):
    sum: float
    diff: float


class SumDiff(BaseNode):
    """Two outputs: a+b and a-b."""

    a: float = 0
    b: float = 0

    async def process(self, context: Any) -> Split:
        return {"sum": self.a + self.b, "diff": self.a - self.b}


class Format(BaseNode):
    """Formats a template with its dynamic properties."""

    is_dynamic = True
    template: str = ""

    async def process(self, context: Any) -> str:
        return self.template.format(**self.dynamic_properties)


class Text(BaseNode):
    """Returns a string."""

    value: str = ""

    async def process(self, context: Any) -> str:
        return self.value


class Need(BaseNode):
    """Has a required integer input."""

    x: int

    async def process(self, context: Any) -> int:
        return self.x


class Numbers(BaseNode):
    """Returns a list of strings (to mismatch list[int])."""

    async def process(self, context: Any) -> list[str]:
        return ["1"]


class Ints(BaseNode):
    """Sums a list of ints."""

    values: list[int] = []
    maybe: int | None = None

    async def process(self, context: Any) -> int:
        return sum(self.values)


class Chatty(BaseNode):
    """Logs and reports progress while it works."""

    steps: int = 2

    async def process(self, context: Any) -> str:
        context.log("starting", "info")
        for i in range(self.steps):
            context.progress(i + 1, self.steps)
        context.log("done", "warning")
        return "ok"


class Big(BaseNode):
    """Returns a large list."""

    n: int = 1000

    async def process(self, context: Any) -> list[int]:
        return list(range(self.n))


class Nothing(BaseNode):
    """Returns None."""

    async def process(self, context: Any) -> Any:
        return None


class TextIn(BaseNode):
    """A string workflow input."""

    node_type = "nodetool.input.TextIn"
    name: str = ""
    value: str = ""

    async def process(self, context: Any) -> str:
        return self.value


class IntIn(BaseNode):
    """An integer workflow input."""

    node_type = "nodetool.input.IntIn"
    name: str = ""
    value: int = 0

    async def process(self, context: Any) -> int:
        return self.value


class Out(BaseNode):
    """A workflow output."""

    node_type = "nodetool.output.Output"
    aliases = ("nodetool.output.StringOutput",)
    name: str = ""
    value: Any = None

    async def process(self, context: Any) -> Any:
        return self.value


class UpperOut(BaseNode):
    """A typed output that converts what it receives."""

    node_type = "nodetool.output.UpperOutput"
    name: str = ""
    value: str = ""

    async def process(self, context: Any) -> str:
        return self.value.upper()


class Preview(BaseNode):
    """NodeTool's Preview sink."""

    node_type = "nodetool.workflows.base_node.Preview"
    name: str = ""
    value: Any = None

    async def process(self, context: Any) -> Any:
        return self.value


@node(namespace="test.fn")
def Mul(a: float = 1, b: float = 1) -> float:
    """Multiplies two numbers (a function node)."""
    return a * b


ALL = [Const, Add, SlowAdd, Fail, Blocker, Count, SyncCount, ThreadLog, Each, Collect, Triple, SumDiff, Format, Text,
       Need, Numbers, Ints, Chatty, Big, Nothing, TextIn, IntIn, Out, UpperOut, Preview, Mul]


def registry() -> NodeRegistry:
    reg = NodeRegistry()
    for cls in ALL:
        reg.register(cls)
    return reg


def graph(nodes: dict[str, tuple[str, dict[str, Any]] | str], edges: list[str] = (),
          **node_options: dict[str, Any]) -> Graph:
    """A graph from ``{"id": ("test.Add", {data})}`` and ``["src.handle -> dst.handle"]``.

    ``node_options`` maps a node id to extra GraphNode fields (sync_mode, ...).
    """
    built = []
    for node_id, spec in nodes.items():
        node_type, data = (spec, {}) if isinstance(spec, str) else spec
        if "." not in node_type:
            node_type = f"test.{node_type}"
        built.append(GraphNode(id=node_id, type=node_type, data=dict(data),
                               **node_options.get(node_id, {})))
    parsed = []
    for i, spec in enumerate(edges):
        left, right = (s.strip() for s in spec.split("->"))
        src, src_handle = left.split(".")
        dst, dst_handle = right.split(".")
        parsed.append(GraphEdge(id=f"e{i}", source=src, source_handle=src_handle, target=dst,
                                target_handle=dst_handle))
    return Graph(nodes=built, edges=parsed)
