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
    A frame grouping nodes on the canvas (its children carry ``parent_id``); does nothing when run.
    group, workflow, structure, organize
    """

    aliases = ("nodetool.workflows.base_node.GroupNode",)

    async def process(self, context: Any) -> None:
        return None
