"""The safe expression evaluator: what it allows, what it refuses, and how fast it refuses."""

import math
import time

import pytest

from nodetool_gateway.engine.expr import (NODETOOL_BUILTINS, SAFE_BUILTINS, ExpressionError,
                                          ExpressionRuntimeError, bounded_binop, check_size,
                                          compile_expression, evaluate)


def test_celsius_example():
    """Evaluates NodeTool's example "(celsius * 9/5) + 32" with celsius 32 to 89.6."""
    result = evaluate("(celsius * 9/5) + 32", {"celsius": 32})
    assert result == 89.6 and isinstance(result, float)


@pytest.mark.parametrize("expr, expected", [
    ("abs(-3)", 3), ("all([1, 1])", True), ("any([0, 0])", False), ("bool(0)", False),
    ("float('1.5')", 1.5), ("int('7')", 7), ("len('abc')", 3), ("max([1, 5, 2])", 5),
    ("min(3, 4)", 3), ("round(2.567, 2)", 2.57), ("round(2.5)", 2), ("str(5)", "5"),
    ("sum([1, 2, 3])", 6),
])
def test_nodetool_builtins(expr, expected):
    """Supports each builtin NodeTool's EvaluateExpression allows, with Python's results."""
    assert evaluate(expr) == expected


def test_nodetool_builtins_are_all_included():
    """Includes every NodeTool builtin in the safe set."""
    assert set(NODETOOL_BUILTINS) <= set(SAFE_BUILTINS)


@pytest.mark.parametrize("expr, expected", [
    ("7 // 2", 3), ("7 % 3", 1), ("2 ** 10", 1024), ("7 / 2", 3.5), ("-x", -4), ("+x", 4),
    ("not x", False), ("~5", -6), ("1 < x < 5", True), ("x == 4 and y == 'a'", True),
    ("x > 10 or y", "a"), ("'big' if x > 3 else 'small'", "big"), ("x in [1, 4]", True),
    ("x not in (1, 2)", True), ("z is None", True), ("z is not None", False),
    ("[1, 2, 3][1:]", [2, 3]), ("'hello'[::-1]", "olleh"), ("{'a': 1}['a']", 1),
    ("(1, 2)", (1, 2)), ("{1, 2} == {2, 1}", True), ("[*[1, 2], 3]", [1, 2, 3]),
    ("{**{'a': 1}, 'b': 2}", {"a": 1, "b": 2}), ("6 & 3", 2), ("6 | 3", 7), ("6 ^ 3", 5),
    ("1 << 4", 16), ("256 >> 4", 16), ("'%s-%d' % ('a', 3)", "a-3"), ("'ab' * 3", "ababab"),
    ("[0] * 3", [0, 0, 0]), ("'a' + 'b'", "ab"), ("1e3", 1000.0), ("b'ab'", b"ab"),
])
def test_operators(expr, expected):
    """Evaluates Python operators, comparisons, conditionals and displays like Python."""
    assert evaluate(expr, {"x": 4, "y": "a", "z": None}) == expected


@pytest.mark.parametrize("expr, expected", [
    ("sorted([3, 1, 2])", [1, 2, 3]), ("sorted(xs, reverse=True)", [3, 2, 1]),
    ("sorted(['bb', 'a'], key=len)", ["a", "bb"]), ("list(range(3))", [0, 1, 2]),
    ("range(2, 5)", [2, 3, 4]), ("[v * 2 for v in xs if v > 1]", [6, 4]),
    ("{v: v * v for v in range(3)}", {0: 0, 1: 1, 2: 4}), ("{v % 2 for v in xs}", {0, 1}),
    ("sum(v for v in xs)", 6), ("[a + b for a, b in zip(xs, xs)]", [6, 2, 4]),
    ("list(enumerate('ab'))", [(0, "a"), (1, "b")]), ("dict(a=1)", {"a": 1}),
    ("dict([('a', 1)])", {"a": 1}), ("tuple(xs)", (3, 1, 2)), ("set([1, 1])", {1}),
    ("divmod(7, 2)", (3, 1)), ("pow(2, 5)", 32), ("pow(2, 5, 3)", 2),
    ("list(map(str, xs))", ["3", "1", "2"]), ("list(filter(None, [0, 1, 2]))", [1, 2]),
    ("list(reversed(xs))", [2, 1, 3]), ("max(['a', 'bbb'], key=len)", "bbb"),
    ("name.upper()", "ADA"), ("'-'.join(['a', 'b'])", "a-b"), ("name.split('d')", ["A", "a"]),
    ("d.get('k', 0)", 0), ("d.get('a')", 1), ("sorted(d.keys())", ["a"]),
    ("'x'.replace('x', 'yy')", "yy"), ("'7'.zfill(3)", "007"), ("xs.index(1)", 1),
    ("len(name) > 0", True), ("[x for x in []]", []),
])
def test_extra_builtins_and_methods(expr, expected):
    """Supports the extra safe builtins, comprehensions and whitelisted methods."""
    assert evaluate(expr, {"xs": [3, 1, 2], "name": "Ada", "d": {"a": 1}}) == expected


def test_variables_shadow_builtins():
    """Resolves a name to a variable before a builtin, as NodeTool's locals do."""
    assert evaluate("len + 1", {"len": 5}) == 6


def test_builtin_as_value():
    """Passes a builtin as a key function and rejects calling a plain value."""
    assert evaluate("min(xs, key=abs)", {"xs": [-5, 2]}) == 2
    with pytest.raises(ExpressionError):
        evaluate("x(1)", {"x": 3})


def test_compiled_expression_reused():
    """Parses once and evaluates with different variables."""
    expr = compile_expression("a * 2")
    assert [expr.evaluate({"a": n}) for n in (1, 2, 3)] == [2, 4, 6]
    assert expr.names() == {"a"}


FORBIDDEN = [
    "__import__('os')", "().__class__", "x.__class__", "''.__class__.__mro__[1].__subclasses__()",
    "open('/etc/passwd')", "eval('1')", "exec('1')", "getattr(x, 'real')", "globals()",
    "locals()", "vars()", "type(x)", "compile('1', '', 'eval')", "breakpoint()",
    "__builtins__", "(lambda: 1)()", "lambda: 0", "[f() for f in [lambda: 1]]",
    "import os", "x := 1", "f'{x}'", "'{0.__class__}'.format(x)", "'{}'.format(x)",
    "str.format('{}', 1)", "x.upper", "[].append(1)", "{}.update(a=1)", "x._private()",
    "[c for c in ().__class__.__bases__]", "max.__self__", "dict(__class__=1)",
    "sorted([1], key=lambda v: v)", "(yield 1)", "[x async for x in y]", "...",
    "[__x for __x in [1]]", "d.__getitem__('a')", "str(**{'_x': 1})",
]


@pytest.mark.parametrize("expr", FORBIDDEN)
def test_forbidden_constructs(expr):
    """Refuses imports, dunders, builtins outside the whitelist and lambdas, fast."""
    start = time.process_time()
    with pytest.raises(ExpressionError):
        evaluate(expr, {"x": 1, "d": {"a": 1}})
    # CPU seconds, generous: a construct that ran would take far longer (not a speed test).
    assert time.process_time() - start < 5


BOMBS = [
    '"a" * 10**9', "2 ** 10 ** 10", "10 ** 10 ** 10", "[0] * 10**9", "1 << 10**9",
    "range(10**9)", "range(10**30)", "list(range(10**7))", '"a" * 10**6 * 10**6',
    '"%0999999999d" % 1', '"%*d" % (10**9, 1)', "sum([[0] * 10**6] * 10**6, [])",
    '"x".ljust(10**9)', '"ab".replace("", "x" * 10**6)', "str([[0] * 10**5] * 100)",
    "[x for x in range(10**6) for y in range(10**6)]",
    "[[0] * 10**6 for _ in range(100)]", "2 ** 1000000", "(10 ** 5000) * (10 ** 50000)",
    "set([tuple(range(10**6))] * 10)", "pow(10, 10**7)", "','.join(['a' * 1000] * 10**4)",
    "[y for y in [[0] * 10**6] for _ in range(10**6)] == [1]",
]


@pytest.mark.parametrize("expr", BOMBS)
def test_resource_bombs_fail_fast(expr):
    """Refuses expressions that would build huge values or loop for long, within a second."""
    start = time.process_time()
    with pytest.raises(ExpressionError):
        evaluate(expr)
    # CPU seconds, generous: a bomb that ran would take minutes or exhaust memory.
    assert time.process_time() - start < 5


def test_deep_nesting_and_length():
    """Refuses over-long and over-nested expressions with ExpressionError."""
    with pytest.raises(ExpressionError):
        evaluate("1+" * 6000 + "1")
    with pytest.raises(ExpressionError):
        evaluate("(" * 300 + "1" + ")" * 300)
    with pytest.raises(ExpressionError):
        evaluate("-" * 150 + "1")


def test_runtime_errors_are_expression_runtime_errors():
    """Reports division by zero, unknown names and type errors as ExpressionRuntimeError."""
    with pytest.raises(ExpressionRuntimeError, match="division by zero"):
        evaluate("1 / 0")
    with pytest.raises(ExpressionRuntimeError, match="name 'y' is not defined"):
        evaluate("y + 1")
    with pytest.raises(ExpressionRuntimeError, match="TypeError"):
        evaluate("'a' + 1")
    assert issubclass(ExpressionRuntimeError, ExpressionError)
    assert issubclass(ExpressionError, ValueError)


def test_syntax_errors():
    """Reports unparsable text as ExpressionError("invalid expression ...")."""
    with pytest.raises(ExpressionError, match="invalid expression"):
        evaluate("1 +")
    with pytest.raises(ExpressionError, match="invalid expression"):
        evaluate("a = 1")


def test_short_circuit():
    """Evaluates and/or/if lazily, so the unused branch may fail."""
    assert evaluate("x or 1 / 0", {"x": 5}) == 5
    assert evaluate("x and 1 / 0", {"x": 0}) == 0
    assert evaluate("1 if True else 1 / 0") == 1


def test_restricted_builtin_set():
    """Limits builtins to the set given to the evaluator."""
    assert evaluate("len('ab')", builtins=["len"]) == 2
    with pytest.raises(ExpressionError):
        evaluate("sorted([2, 1])", builtins=["len"])
    with pytest.raises(ValueError):
        compile_expression("1", builtins=["open"])


def test_pandas_query_mode():
    """Reads pandas query syntax: & and | as and/or, ~ as not, backticks, == list."""
    row = {"age": 35, "name": "Bob", "first name": "Ann"}
    assert evaluate("age > 30 & name == 'Bob'", row, pandas_query=True) is True
    assert evaluate("age < 30 | name == 'Bob'", row, pandas_query=True) is True
    assert evaluate("~(age > 30)", row, pandas_query=True) is False
    assert evaluate("`first name` == 'Ann'", row, pandas_query=True) is True
    assert evaluate("name == ['Bob', 'Al']", row, pandas_query=True) is True
    assert evaluate("name != ['Bob', 'Al']", row, pandas_query=True) is False
    with pytest.raises(ExpressionRuntimeError):  # plain Python: age > (30 & name) == 'Bob'
        evaluate("age > 30 & name == 'Bob'", row)
    assert compile_expression("`first name` > 1", pandas_query=True).names() == {"first name"}


def test_nan_comparisons():
    """Compares NaN as pandas does for a missing value: every order comparison is false."""
    nan = {"age": math.nan}
    assert evaluate("age > 30", nan) is False
    assert evaluate("age <= 30", nan) is False
    assert evaluate("age != 30", nan) is True


def test_check_size_and_bounded_binop():
    """Measures nested sizes and refuses oversized binary results."""
    assert check_size([1, "abc", [2]]) == 3 + 3 + 1
    with pytest.raises(ExpressionError):
        check_size(["x" * 100] * 100, limit=1000)
    assert bounded_binop("*", "ab", 2) == "abab"
    with pytest.raises(ExpressionError):
        bounded_binop("**", 3, 10**7)
    with pytest.raises(ExpressionError):
        bounded_binop("?", 1, 2)


def test_result_of_range_is_a_list():
    """Returns a materialized list when the result is a range."""
    assert evaluate("range(3)") == [0, 1, 2]
