"""The expression evaluator charges big-integer work and measures shared values in linear time."""

import time

import pytest

from nodetool_gateway.engine.expr import ExpressionError, check_size, evaluate, int_cost
from nodetool_gateway.engine.library import code as C

BIG = {"a": 2**50_000 + 1, "b": 3**30_000}

# Each took seconds to hours before big-integer work was charged (measured: pow(3, a, a+1)
# and the loops of divisions never finished within 20 s).
COSTLY = [
    "pow(3, a, a + 1)",
    "pow(7, 2**40000, 2**40000 + 1)",
    "sum(a // b for i in range(10**6))",
    "[a % 10**4000 for i in range(10**6)][-1] > 0",
    "sum(a * b % 7 for i in range(10**6))",
    "sum(len(str(2**14000)) for i in range(10**6))",
    "sum(len('%d' % 2**14000) for i in range(10**6))",
    "sum(divmod(a, b)[1] % 7 for i in range(10**6))",
    "sum(round(a, -7000) > 0 for i in range(10**5))",
    "sum(int('9' * 4300) % 7 for i in range(10**5))",
    "sum((a << 40000) > 0 for i in range(10**5))",
    "str([2**14000] * 18000)",
    "[[[[[[[[[[[[[[[[[[[[[[0]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2]*2] == 1",
]


@pytest.mark.parametrize("expr", COSTLY)
def test_costly_arithmetic_is_refused_fast(expr):
    """Refuses big-integer work past the budget, before it runs, within a second or so."""
    start = time.process_time()
    with pytest.raises(ExpressionError, match="too much work|too large"):
        evaluate(expr, BIG)
    # CPU seconds, generous for slow machines: the work itself took minutes to hours.
    assert time.process_time() - start < 3


async def test_evaluate_expression_node_reports_the_limit():
    """Fails EvaluateExpression with an error that names the work limit."""
    node = C.EvaluateExpression(expression="pow(3, a, a + 1)", variables=BIG)
    with pytest.raises(ExpressionError, match="takes too much work"):
        await node.process(None)


@pytest.mark.parametrize("expr, expected", [
    ("12345 * 6789 // 3 % 7 + 2**10 - (3 << 4)", 12345 * 6789 // 3 % 7 + 2**10 - (3 << 4)),
    ("pow(7, 2**2047, 2**2048 - 159)", pow(7, 2**2047, 2**2048 - 159)),
    ("pow(3, -1, 7)", 5),
    ("divmod(10**500, 7**100)", divmod(10**500, 7**100)),
    ("(10**3000) // (7**500) % 1000", (10**3000) // (7**500) % 1000),
    ("len(str(2**10000))", len(str(2**10000))),
    ("int('1' * 4000) % 97", int("1" * 4000) % 97),
    ("round(123456789, -3)", 123457000),
    ("round(5, -10**9)", 0),
    ("round(-2**200, -70)", round(-2**200, -70)),
    ("sum(x * x for x in range(1000))", sum(x * x for x in range(1000))),
    ("'%d items' % 12", "12 items"),
])
def test_ordinary_arithmetic_still_works(expr, expected):
    """Computes ordinary and moderately big integer arithmetic exactly as Python does."""
    assert evaluate(expr) == expected


def test_int_cost_grows_with_operand_sizes():
    """Charges nothing for small integers and more for bigger products and quotients."""
    assert int_cost("*", 10**6, 10**6) == 0
    assert 0 < int_cost("*", 2**5000, 2**5000) < int_cost("*", 2**50000, 2**50000)
    assert int_cost("//", 2**50000, 3**30000) > int_cost("//", 2**50000, 7)
    assert int_cost("+", 1.5, 2**50000) == 0


def test_check_size_measures_shared_parts_fast():
    """Measures a value built by doubling in linear time, counting each appearance."""
    value: list = [0]
    for _ in range(60):
        value = [value, value]
    start = time.process_time()
    with pytest.raises(ExpressionError):
        check_size(value)
    assert time.process_time() - start < 0.5
    assert check_size([[1, "ab"], [1, "ab"]]) == 2 + 2 * (2 + 2)


def test_check_size_counts_big_integers_by_digits():
    """Counts an integer past 64 bits by its decimal digits."""
    assert check_size([2**200]) == 1 + 60
    assert check_size([2**60]) == 1


def test_check_size_refuses_a_list_that_holds_itself():
    """Treats a list that contains itself as too large, instead of looping."""
    loop: list = [1]
    loop.append(loop)
    with pytest.raises(ExpressionError):
        check_size(loop)
