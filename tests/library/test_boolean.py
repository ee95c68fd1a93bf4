"""nodetool.boolean: comparisons and logic."""

import pytest

from nodetool_gateway.engine.library import boolean as B


@pytest.mark.parametrize("a, b, op, expected", [
    (1, 1, "==", True), (1, 2, "==", False), (1, 2, "!=", True), (2, 2, "!=", False),
    (3, 2, ">", True), (2, 2, ">", False), (1, 2, "<", True), (2, 2, "<", False),
    (2, 2, ">=", True), (1, 2, ">=", False), (2, 2, "<=", True), (3, 2, "<=", False),
    (75, 100, ">", False), (75, 50, "<", False), (1.5, 1, ">", True),
])
async def test_compare(a, b, op, expected, ctx):
    """Compares two numbers with each operator."""
    assert await B.Compare(a=a, b=b, comparison=op).process(ctx) is expected


async def test_compare_defaults():
    """Defaults to 0 == 0, which is true, and keeps ints as ints."""
    node = B.Compare()
    assert await node.process(None) is True
    assert B.Compare(a=75).a == 75 and isinstance(B.Compare(a=75).a, int)


async def test_compare_plain_string_operator():
    """Accepts the operator as a plain string even without validation."""
    node = B.Compare.model_construct(a=3, b=2, comparison=">")
    assert await node.process(None) is True
    bad = B.Compare.model_construct(a=3, b=2, comparison="<>")
    with pytest.raises(ValueError):
        await bad.process(None)


@pytest.mark.parametrize("a, b, op, expected", [
    (True, True, "and", True), (True, False, "and", False),
    (True, False, "or", True), (False, False, "or", False),
    (True, False, "xor", True), (True, True, "xor", False),
    (True, True, "nand", False), (True, False, "nand", True),
    (False, False, "nor", True), (True, False, "nor", False),
])
async def test_logical_operator(a, b, op, expected):
    """Combines two booleans with and, or, xor, nand and nor."""
    assert await B.LogicalOperator(a=a, b=b, operation=op).process(None) is expected


async def test_logical_operator_defaults():
    """Defaults to False and False, which is False."""
    assert await B.LogicalOperator().process(None) is False
    with pytest.raises(ValueError):
        await B.LogicalOperator.model_construct(a=True, b=True, operation="implies").process(None)


async def test_not():
    """Inverts a boolean; the default False gives True."""
    assert await B.Not().process(None) is True
    assert await B.Not(value=True).process(None) is False


async def test_conditional_switch():
    """Selects if_true or if_false by the condition; unset branches are ()."""
    assert await B.ConditionalSwitch(condition=True, if_true="a", if_false="b").process(None) == "a"
    assert await B.ConditionalSwitch(condition=False, if_true="a", if_false="b").process(None) == "b"
    assert await B.ConditionalSwitch().process(None) == ()


async def test_is_none():
    """Says whether the value is None; the default () is not None."""
    assert await B.IsNone(value=None).process(None) is True
    assert await B.IsNone(value=0).process(None) is False
    assert await B.IsNone().process(None) is False


async def test_is_in():
    """Tests membership in options."""
    assert await B.IsIn(value=2, options=[1, 2]).process(None) is True
    assert await B.IsIn(value=3, options=[1, 2]).process(None) is False
    assert await B.IsIn().process(None) is False


async def test_all_and_some():
    """Treats an empty list as all-true and none-true."""
    assert await B.All(values=[]).process(None) is True
    assert await B.All(values=[True, False]).process(None) is False
    assert await B.All(values=[True, True]).process(None) is True
    assert await B.Some(values=[]).process(None) is False
    assert await B.Some(values=[False, True]).process(None) is True
    assert await B.Some(values=[False]).process(None) is False
