"""nodetool.output: workflow results, keyed by ``data.name``.

``Output`` is NodeTool's current generic output; the older typed outputs
(StringOutput, ListOutput, ...) behaved the same (return ``value``), so they are
aliases of it.
"""

from typing import Any

from pydantic import Field

from ..node import BaseNode

NAMESPACE = "nodetool.output"

__all__ = ["Output", "GroupOutput"]

_TYPED = ("StringOutput", "IntegerOutput", "FloatOutput", "BooleanOutput", "ListOutput",
          "DictionaryOutput", "DataframeOutput", "TextOutput", "ImageOutput", "VideoOutput",
          "AudioOutput", "DocumentOutput", "ArrayOutput", "TensorOutput", "ModelOutput",
          "FilePathOutput", "FolderPathOutput", "ChatOutput", "ImageListOutput",
          "VideoListOutput", "AudioListOutput", "TextListOutput", "Model3DOutput")


class Output(BaseNode):
    """
    Generic output for any type: records ``value`` as the workflow output ``name``.
    output, result, sink, return
    """

    aliases = tuple(f"{NAMESPACE}.{name}" for name in _TYPED)

    name: str = Field(default="", description="The parameter name for the workflow.")
    value: Any = Field(default=None, description="The value of the output.")
    description: str = Field(default="", description="What the output is.")

    async def process(self, context: Any) -> Any:
        return self.value


class GroupOutput(BaseNode):
    """
    Inside a group loop: what arrives on ``input`` in each run of the group is collected,
    in order, into the group's ``output`` list. No workflow output.
    output, group, collection, loop
    """

    name: str = Field(default="", description="The name of the group output.")
    input: Any = Field(default=None, description="The value to collect.")

    async def process(self, context: Any) -> Any:
        return self.input
