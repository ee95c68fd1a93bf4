"""nodetool.workflows.base_node: the Preview sink and the Comment and Group annotations."""

from typing import Any

from pydantic import Field

from ..node import BaseNode

NAMESPACE = "nodetool.workflows.base_node"

__all__ = ["Preview", "Comment", "Group"]


class Preview(BaseNode):
    """
    Shows a value in the workflow editor; a sink keyed by its name.
    preview, display, sink

    The engine records the value under ``name`` (like an output).
    """

    value: Any = Field(default=None, description="The value to preview.")
    name: str = Field(default="", description="The name of the preview node.")

    async def process(self, context: Any) -> Any:
        return self.value


class Comment(BaseNode):
    """
    A note on the workflow canvas; it has no ports and does nothing when run.
    comment, note, annotation
    """

    headline: str = Field(default="", description="The headline for this comment.")
    comment: Any = Field(default={}, description="The comment for this node.")
    comment_color: str = Field(default="#f0f0f0", description="The color for the comment.")

    async def process(self, context: Any) -> None:
        return None


class Group(BaseNode):
    """
    A frame grouping nodes on the canvas (its children carry ``parent_id``).
    group, workflow, structure, organize, loop

    With a GroupInput inside, it is a loop: its subgraph runs once per item of
    ``input`` (a dict counts as its ``{key, value}`` pairs) and ``output`` is the
    list of what its GroupOutput received, in order. Without one it does nothing.
    """

    aliases = ("nodetool.workflows.base_node.GroupNode", "nodetool.group.Loop")

    input: Any = Field(default=None, description="The list to loop over.")

    async def process(self, context: Any) -> Any:
        return None  # the engine runs a loop group itself
