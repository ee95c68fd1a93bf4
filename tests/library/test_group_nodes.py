"""The group loop's ends: GroupInput and GroupOutput as node types."""

from nodetool_gateway.engine.library import input as I
from nodetool_gateway.engine.library import output as O


async def test_group_input_gives_its_current_item():
    """GroupInput returns the item the loop set on it and is no workflow parameter."""
    assert await I.GroupInput(value={"a": 1}).process(None) == {"a": 1}
    assert I.GroupInput.node_type == "nodetool.input.GroupInput"


async def test_group_output_passes_its_input_on():
    """GroupOutput returns what arrived on its input."""
    assert await O.GroupOutput(input=[1, 2]).process(None) == [1, 2]
    assert O.GroupOutput.node_type == "nodetool.output.GroupOutput"
