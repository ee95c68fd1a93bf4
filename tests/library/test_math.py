"""lib.math and nodetool.math (older names, older defaults), and nodetool.numbers filters."""

import math

import pytest

from nodetool_gateway.engine.library import math as M
from nodetool_gateway.engine.library import numbers as N

from .conftest import gen


@pytest.mark.parametrize("cls, kwargs, expected", [
    (M.Add, {"a": 2, "b": 3}, 5), (M.Add, {}, 0.0), (M.Add, {"a": 0.1, "b": 0.2}, 0.1 + 0.2),
    (M.Subtract, {"a": 2, "b": 3}, -1), (M.Subtract, {}, 0.0),
    (M.Multiply, {"a": 2, "b": 3}, 6), (M.Multiply, {}, 0.0),
    (M.Divide, {"a": 7, "b": 2}, 3.5), (M.Divide, {}, 0.0), (M.Divide, {"a": 5}, 5.0),
    (M.Modulus, {"a": 7, "b": 3}, 1), (M.Modulus, {"a": -7, "b": 3}, 2), (M.Modulus, {}, 0.0),
    (M.Sine, {"angle_rad": math.pi / 2}, 1.0), (M.Sine, {}, 0.0),
    (M.Cosine, {"angle_rad": 0}, 1.0), (M.Cosine, {}, 1.0),
    (M.Power, {"base": 2, "exponent": 10}, 1024.0), (M.Power, {}, 0.0),
    (M.Sqrt, {"x": 16}, 4.0), (M.Sqrt, {}, 0.0),
    (M.LegacyAdd, {"a": 1, "b": 2}, 3), (M.LegacySubtract, {"a": 1, "b": 2}, -1),
    (M.LegacyMultiply, {"a": 4, "b": 2}, 8), (M.LegacyDivide, {"a": 1, "b": 4}, 0.25),
    (M.LegacyModulus, {"a": 9, "b": 4}, 1), (M.LegacySine, {}, 0.0), (M.LegacyCosine, {}, 1.0),
    (M.LegacyPower, {}, 1.0), (M.LegacyPower, {"base": 3}, 9.0), (M.LegacySqrt, {}, 1.0),
])
async def test_math_nodes(cls, kwargs, expected, ctx):
    """Computes each math node, with NodeTool's defaults for each name."""
    result = await cls(**kwargs).process(ctx)
    assert result == pytest.approx(expected) and type(result) is type(expected)


async def test_int_arithmetic_stays_int():
    """Keeps int + int an int, as Python does."""
    result = await M.Add(a=2, b=3).process(None)
    assert result == 5 and isinstance(result, int)


@pytest.mark.parametrize("node", [M.Divide(a=1, b=0), M.Modulus(a=1, b=0), M.LegacyDivide(),
                                  M.LegacyModulus(a=3)])
async def test_division_by_zero_raises(node):
    """Raises ZeroDivisionError for division or modulus by zero (the older Divide's default)."""
    with pytest.raises(ZeroDivisionError):
        await node.process(None)


async def test_domain_errors():
    """Raises ValueError for the square root or log of a negative number."""
    with pytest.raises(ValueError):
        await M.Sqrt(x=-1).process(None)
    with pytest.raises(ValueError):
        await M.MathFunction(input=-1, operation="log").process(None)


@pytest.mark.parametrize("op, x, expected", [
    ("negate", 3, -3), ("absolute", -3, 3), ("square", 3, 9), ("cube", -2, -8),
    ("square_root", 9, 3.0), ("cube_root", -27, -3.0), ("sine", 0, 0.0), ("cosine", 0, 1.0),
    ("tangent", 0, 0.0), ("arcsin", 1, math.pi / 2), ("arccos", 1, 0.0), ("arctan", 1, math.pi / 4),
    ("log", math.e, 1.0),
])
async def test_math_function(op, x, expected):
    """Applies each unary operation of MathFunction."""
    assert await M.MathFunction(input=x, operation=op).process(None) == pytest.approx(expected)


async def test_math_function_default_and_unknown():
    """Negates by default and rejects an unknown operation."""
    assert await M.MathFunction(input=2).process(None) == -2
    with pytest.raises(ValueError):
        await M.MathFunction.model_construct(input=1, operation="exp").process(None)


def test_math_type_names():
    """Registers lib.math.* and the older nodetool.math.* names."""
    assert M.Add.node_type == "lib.math.Add"
    assert M.LegacyPower.node_type == "nodetool.math.Power" and M.LegacyPower.node_title == "Power"
    assert {c.node_type for c in (M.LegacyAdd, M.LegacySubtract, M.LegacyMultiply, M.LegacyDivide,
                                  M.LegacyModulus, M.LegacySine, M.LegacyCosine, M.LegacySqrt)} == {
        "nodetool.math.Add", "nodetool.math.Subtract", "nodetool.math.Multiply", "nodetool.math.Divide",
        "nodetool.math.Modulus", "nodetool.math.Sine", "nodetool.math.Cosine", "nodetool.math.Sqrt"}


@pytest.mark.parametrize("value, kind, compare, passes", [
    (5, "greater_than", 3, True), (3, "greater_than", 3, False), (2, "less_than", 3, True),
    (3, "equal_to", 3, True), (4, "even", 0, True), (3, "even", 0, False), (3, "odd", 0, True),
    (1, "positive", 0, True), (0, "positive", 0, False), (-1, "negative", 0, True),
    (2.5, "greater_than", 2, True), ("5", "greater_than", 0, False), (True, "positive", 0, False),
])
async def test_filter_number(value, kind, compare, passes):
    """Passes on a streamed number only when it meets the filter."""
    node = N.FilterNumber.model_construct(value=value, filter_type=kind, compare_value=compare)
    assert await gen(node) == ([{"output": value}] if passes else [])


async def test_filter_number_defaults_keep_ints():
    """Filters greater than 0 by default and passes an int on unchanged."""
    assert await gen(N.FilterNumber(value=4)) == [{"output": 4}]
    assert await gen(N.FilterNumber()) == []


@pytest.mark.parametrize("value, lo, hi, inclusive, passes", [
    (5, 1, 10, True, True), (1, 1, 10, True, True), (1, 1, 10, False, False),
    (10, 1, 10, False, False), (11, 1, 10, True, False), ("x", 1, 10, True, False),
])
async def test_filter_number_range(value, lo, hi, inclusive, passes):
    """Passes on a streamed number only when it is in range."""
    node = N.FilterNumberRange.model_construct(value=value, min_value=lo, max_value=hi, inclusive=inclusive)
    assert await gen(node) == ([{"output": value}] if passes else [])
