"""Your own node types, registered with `nodes: {modules: [my_nodes]}` in node.yaml.

A node type is a BaseNode subclass (fields are its inputs, ``process`` its output)
or a function wrapped with ``@node``. The module's NAMESPACE names them:
these are ``my_nodes.Shout`` and ``my_nodes.Clamp``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nodetool_gateway.engine import BaseNode, node

NAMESPACE = "my_nodes"


class Shout(BaseNode):
    """Upper-cases text and adds exclamation marks.
    text, shout, upper
    """

    text: str = Field(default="", description="What to shout.")
    marks: int = Field(default=1, ge=0, le=10)

    async def process(self, context: Any) -> str:
        context.log(f"shouting {len(self.text)} characters")
        return self.text.upper() + "!" * self.marks


@node
def Clamp(value: float = 0.0, low: float = 0.0, high: float = 1.0) -> float:
    """Keeps a number between low and high."""
    return max(low, min(high, value))
