"""nodetool.input, nodetool.output, nodetool.constant and the base_node annotations."""

import pytest

from nodetool_gateway.engine.library import base_node as BN
from nodetool_gateway.engine.library import constant as C
from nodetool_gateway.engine.library import input as I
from nodetool_gateway.engine.library import output as O


@pytest.mark.parametrize("cls, default", [
    (I.FloatInput, 0.0), (I.BooleanInput, False), (I.IntegerInput, 0), (I.StringInput, ""),
    (I.SelectInput, ""), (I.StringListInput, []), (I.ColorInput, {"type": "color", "value": None}),
])
async def test_input_defaults(cls, default, ctx):
    """Returns the default value with an empty name."""
    node = cls()
    assert node.name == ""
    assert await node.process(ctx) == default


@pytest.mark.parametrize("cls, value", [
    (I.FloatInput, 2.5), (I.BooleanInput, True), (I.IntegerInput, 75), (I.StringInput, "hi"),
    (I.SelectInput, "b"), (I.StringListInput, ["a", "b"]), (I.ColorInput, {"type": "color", "value": "#fff"}),
])
async def test_inputs_return_value(cls, value):
    """Returns its value, keyed by its name."""
    node = cls(name="param", value=value, description="ignored metadata")
    assert node.name == "param"
    assert await node.process(None) == value


async def test_number_inputs_do_not_clamp():
    """Leaves values outside min/max alone (current NodeTool does not clamp)."""
    assert await I.IntegerInput(value=500, min=0, max=100).process(None) == 500
    assert await I.FloatInput(value=-5.0).process(None) == -5.0
    assert I.IntegerInput().min == 0 and I.IntegerInput().max == 100


async def test_string_input_max_length():
    """Cuts the string to max_length characters when max_length is not 0."""
    assert await I.StringInput(value="abcdef", max_length=3).process(None) == "abc"
    assert await I.StringInput(value="abcdef").process(None) == "abcdef"
    assert I.StringInput().line_mode == "single_line"


async def test_select_input_options():
    """Keeps options and returns the selected value."""
    node = I.SelectInput(value="b", options=["a", "b"])
    assert node.options == ["a", "b"] and await node.process(None) == "b"


def test_input_type_names():
    """Names the inputs nodetool.input.*."""
    assert I.StringInput.node_type == "nodetool.input.StringInput"
    assert I.InputNode.abstract and not I.StringInput.abstract


async def test_output_returns_value():
    """Returns its value; unset is None."""
    assert await O.Output(name="result", value=[1, 2]).process(None) == [1, 2]
    assert await O.Output().process(None) is None


def test_typed_outputs_are_aliases():
    """Registers the older typed outputs as aliases of Output."""
    for name in ("StringOutput", "IntegerOutput", "FloatOutput", "BooleanOutput", "ListOutput",
                 "DictionaryOutput", "DataframeOutput"):
        assert f"nodetool.output.{name}" in O.Output.aliases
    assert O.Output.node_type == "nodetool.output.Output"


@pytest.mark.parametrize("cls, default, value", [
    (C.Bool, False, True), (C.Integer, 0, 7), (C.Float, 0.0, 1.5), (C.String, "", "s"),
    (C.List, [], [1, "a"]), (C.Dict, {}, {"celsius": 32}), (C.TextList, [], ["a"]),
    (C.Select, "", "x"), (C.JSON, {"type": "json", "uri": "", "asset_id": None, "data": None},
                             {"type": "json", "data": {"a": 1}}),
])
async def test_constants(cls, default, value, ctx):
    """Returns the default, then a given value."""
    assert await cls().process(ctx) == default
    assert await cls(value=value).process(ctx) == value


async def test_date_constants():
    """Makes date and datetime values and rejects impossible dates."""
    assert await C.Date(year=2024, month=2, day=29).process(None) == {
        "type": "date", "year": 2024, "month": 2, "day": 29}
    assert (await C.Date().process(None))["year"] == 1900
    with pytest.raises(ValueError):
        await C.Date(year=2023, month=2, day=30).process(None)
    dt = await C.DateTime(year=2024, hour=5, millisecond=7, utc_offset=60).process(None)
    assert dt["hour"] == 5 and dt["microsecond"] == 7000 and dt["utc_offset"] == 3600
    assert dt["type"] == "datetime" and dt["tzinfo"] == "UTC"


async def test_preview():
    """Returns its value under its name; defaults to None."""
    node = BN.Preview(name="any_output", value=89.6)
    assert node.name == "any_output" and await node.process(None) == 89.6
    assert await BN.Preview().process(None) is None
    assert BN.Preview.node_type == "nodetool.workflows.base_node.Preview"


async def test_comment_and_group_do_nothing():
    """Accepts comment content and does nothing when run."""
    node = BN.Comment(comment=[{"type": "paragraph", "children": [{"text": "hi"}]}])
    assert await node.process(None) is None
    assert BN.Comment().comment == {} and BN.Comment().comment_color == "#f0f0f0"
    assert await BN.Group().process(None) is None
    assert BN.Group.node_type == "nodetool.workflows.base_node.Group"
    assert "nodetool.workflows.base_node.GroupNode" in BN.Group.aliases
