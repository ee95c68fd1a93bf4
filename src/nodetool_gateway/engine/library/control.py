"""nodetool.control: streaming and branching.

ForEach streams one item per element (with its index); Collect gathers a stream
into a list when it ends; If routes its value to ``if_true`` or ``if_false`` (each
run routes the value it was given, so a streamed value is routed item by item);
Reroute passes its input through.
"""

from typing import Any, AsyncIterator, TypedDict

from pydantic import Field

from ..node import BaseNode
from ._util import UNSET

NAMESPACE = "nodetool.control"

__all__ = ["If", "ForEach", "Collect", "Reroute"]


class If(BaseNode):
    """
    Emits ``value`` on ``if_true`` when ``condition`` holds, else on ``if_false``
    (only one of the two outputs gets a value).
    control, flow, condition, logic, else, true, false, switch, toggle, flow-control
    """

    condition: bool = Field(default=False, description="The condition to evaluate")
    value: Any = Field(default=UNSET, description="The value to pass to the next node")

    class OutputType(TypedDict):
        if_true: Any
        if_false: Any

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        if bool(self.condition):
            yield {"if_true": self.value}
        else:
            yield {"if_false": self.value}


class ForEach(BaseNode):
    """
    Streams each element of ``input_list`` on ``output``, with its position on ``index``.
    iterator, loop, list, sequence
    """

    node_title = "For Each"

    input_list: list[Any] = Field(default=[], description="The list of items to iterate over.")

    class OutputType(TypedDict):
        output: Any
        index: int

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        for index, item in enumerate(self.input_list):
            if getattr(context, "cancelled", False):
                return
            yield {"output": item, "index": index}


class Collect(BaseNode):
    """
    Gathers every item of the ``input_item`` stream into one list, emitted when the stream ends.
    collector, aggregate, list, stream
    """

    input_item: Any = Field(default=UNSET, description="The input item to collect.")

    class OutputType(TypedDict):
        output: list[Any]

    async def run(self, context: Any, inputs: Any, outputs: Any) -> None:
        collected: list[Any] = []
        async for item in inputs.stream("input_item"):
            collected.append(item)
        await outputs.emit("output", collected)


class Reroute(BaseNode):
    """
    Passes its input through unchanged (for tidier layouts).
    reroute, passthrough, organize, tidy, flow, connection, redirect
    """

    input_value: Any = Field(default=UNSET, description="Value to pass through unchanged")

    async def process(self, context: Any) -> Any:
        return self.input_value
