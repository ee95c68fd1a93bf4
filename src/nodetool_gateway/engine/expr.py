"""A safe expression evaluator: Python expression syntax, interpreted over a whitelist.

Nothing here calls ``eval``. An expression is parsed with :mod:`ast`, checked
against a whitelist of node types, then interpreted by walking the tree:

- names are bound only to the given variables (and, inside comprehensions, to
  their loop targets), then to a fixed set of safe builtins;
- attributes are allowed only as method calls on plain values (``s.upper()``),
  from a whitelist per type; no name or attribute may start with ``__``/``_``;
- no imports, lambdas, assignments, f-strings, ``await``/``yield``;
- every value made is bounded (``MAX_SIZE`` elements or characters, ``MAX_INT_BITS``
  bits for integers) and every evaluation has a work budget (``max_steps``), so
  ``"a" * 10**9``, ``2 ** 10 ** 10`` or nested comprehensions fail at once;
- arithmetic on big integers is charged to that budget by its cost (products and
  quotients grow with the product of the operands' sizes, ``pow`` with a modulus
  with the exponent's bits), so ``pow(3, 2**50000, 2**50000 + 1)`` or a loop of big
  divisions is refused before it runs, not after minutes.

Every failure is an :class:`ExpressionError` (a ``ValueError``); one raised while
evaluating (a division by zero, a wrong type) is the subclass
:class:`ExpressionRuntimeError`.

NodeTool's ``EvaluateExpression`` allows the builtins in :data:`NODETOOL_BUILTINS`
and the operators of plain Python; this evaluator accepts all of that (so
workflows behave the same) and a few more safe builtins.
"""

from __future__ import annotations

import ast
import io
import itertools
import operator
import re
import tokenize
from collections.abc import Iterable, Mapping
from typing import Any, Callable

__all__ = ["ExpressionError", "ExpressionRuntimeError", "Expression", "compile_expression",
           "evaluate", "SAFE_BUILTINS", "NODETOOL_BUILTINS", "MAX_SIZE", "MAX_INT_BITS",
           "MAX_DEEP_SIZE", "MAX_STEPS", "MAX_EXPRESSION_LENGTH", "check_size", "bounded_binop"]

MAX_EXPRESSION_LENGTH = 10_000
MAX_AST_NODES = 5_000
MAX_DEPTH = 100
MAX_SIZE = 1_000_000          # elements or characters in any one list, string, ...
MAX_DEEP_SIZE = 4_000_000     # elements and characters in a value, nested parts included
MAX_INT_BITS = 100_000        # about 30,000 decimal digits
MAX_STEPS = 5_000_000         # work units per evaluation (a tree node costs _NODE_COST)
_NODE_COST = 10

# The builtins NodeTool's EvaluateExpression allows (nodetool-base code.py).
NODETOOL_BUILTINS = ("abs", "all", "any", "bool", "float", "int", "len", "max", "min",
                     "round", "str", "sum")


class ExpressionError(ValueError):
    """An expression that is not allowed, cannot be parsed, or failed."""


class ExpressionRuntimeError(ExpressionError):
    """An allowed expression that failed while being evaluated."""


# Size accounting

_SEQ = (str, bytes, list, tuple)
_CONTAINERS = (list, tuple, set, frozenset, dict)


def _int_bits(x: Any) -> int:
    return x.bit_length() if isinstance(x, int) else 0


# Work units (steps, about 0.2 microseconds each) of CPython's big-integer arithmetic,
# measured on 30-bit digits: schoolbook products, long division, quadratic int <-> str.
_CHEAP_DIGITS = 34           # about 1,000 bits: every operation is as cheap as a step
_PRODUCT_RATE = 400          # digit products per step
_QUOTIENT_RATE = 80          # digit steps of long division per step
_SQUARE_RATE = 1500          # a power's cost, per squared digit of its result
_MODPOW_RATE = 60            # exponent bits times squared modulus digits, per step
_TO_STR_RATE = 150           # squared digits of int -> str, per step
_FROM_STR_RATE = 23_000      # squared characters of str -> int, per step


def _digits(x: int) -> int:
    return x.bit_length() // 30 + 1


def int_cost(op: str, left: Any, right: Any) -> int:
    """The steps ``left <op> right`` costs when both are integers (0 when small)."""
    if type(left) is bool or type(right) is bool or not (isinstance(left, int) and isinstance(right, int)):
        return 0
    a, b = _digits(left), _digits(right)
    if a < _CHEAP_DIGITS and b < _CHEAP_DIGITS:
        return 0
    if op == "*":
        return a * b // _PRODUCT_RATE
    if op in ("//", "%", "divmod"):
        return (a - b + 1) * b // _QUOTIENT_RATE if a >= b else 0
    if op == "**":
        if right <= 1 or abs(left) <= 1:
            return 0
        result = left.bit_length() * right // 30 + 1
        return result * result // _SQUARE_RATE
    return (a + b) // 50  # linear: + - / & | ^ << >>


def _modpow_cost(exp: int, mod: int) -> int:
    d = _digits(mod)
    return abs(exp).bit_length() * d * d // _MODPOW_RATE


def _to_str_cost(x: int) -> int:
    d = _digits(x)
    return d * d // _TO_STR_RATE if d >= _CHEAP_DIGITS else 0


_SKIP = frozenset([bool, float, complex, type(None)])
_CONTAINER_TYPES = (list, tuple, set, frozenset, dict)
_SMALL_INT = 1 << 64


def _leaf_size(item: Any) -> int | None:
    """The size of a value with no parts, or None for a container."""
    if isinstance(item, (str, bytes)):
        return len(item)
    if isinstance(item, int):
        bits = item.bit_length()
        return bits * 3 // 10 if bits > 64 else 0  # its decimal digits
    if isinstance(item, _CONTAINER_TYPES):
        return None
    return 0


def _parts(item: Any) -> Iterable[Any]:
    if isinstance(item, dict):
        return itertools.chain(item.keys(), item.values())
    return item


def _flat_size(seq: list | tuple) -> int | None:
    """The size of a list or tuple of scalars and strings; None if it holds containers."""
    total = len(seq)
    for part in seq:
        kind = type(part)
        if kind is int:
            if not -_SMALL_INT < part < _SMALL_INT:
                total += part.bit_length() * 3 // 10
        elif kind is str:
            total += len(part)
        elif kind not in _SKIP:
            return None
    return total


def _deep_size(obj: Any, limit: int) -> int:
    """About how many elements and characters ``obj`` holds, counting shared parts each
    time they appear (as ``str()`` or ``==`` would visit them); stops past ``limit``.

    Each container is measured once (its size is remembered by identity), so a value
    built by doubling (``[x, x]``) is measured in time linear in what was built, not
    in the size it stands for. A container that holds itself counts as past ``limit``.
    """
    size = _leaf_size(obj)
    if size is not None:
        return size
    known: dict[int, int] = {}
    stack = [[obj, iter(_parts(obj)), len(obj)]]
    known[id(obj)] = -1  # open
    while stack:
        frame = stack[-1]
        total = frame[2]
        for part in frame[1]:
            kind = type(part)
            if kind is int:
                if -_SMALL_INT < part < _SMALL_INT:
                    continue
                total += part.bit_length() * 3 // 10
            elif kind is str:
                total += len(part)
            elif kind in _SKIP:
                continue
            elif kind is list or kind is tuple:
                size = known.get(id(part))
                if size is None:
                    size = _flat_size(part)
                    if size is None:
                        known[id(part)] = -1
                        frame[2] = total
                        stack.append([part, iter(part), len(part)])
                        break
                    known[id(part)] = size
                elif size < 0:
                    return limit + 1
                total += size
            else:
                size = _leaf_size(part)
                if size is None:
                    size = known.get(id(part))
                    if size is None:
                        known[id(part)] = -1
                        frame[2] = total
                        stack.append([part, iter(_parts(part)), len(part)])
                        break
                    if size < 0:
                        return limit + 1
                total += size
            if total > limit:
                return total
        else:
            stack.pop()
            known[id(frame[0])] = total
            if not stack:
                return total
            stack[-1][2] += total
            if stack[-1][2] > limit:
                return stack[-1][2]
    return 0  # pragma: no cover - the loop returns


def check_size(value: Any, what: str = "value", limit: int = MAX_DEEP_SIZE) -> int:
    """Raise ExpressionError if ``value`` holds more than ``limit`` elements and
    characters (nested parts included); return its size."""
    size = _deep_size(value, limit)
    if size > limit:
        raise ExpressionError(f"{what} too large (more than {limit:,} elements or characters)")
    return size


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def _check_printf(fmt: str | bytes, args: Any) -> None:
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    extra = 0
    for m in _PRINTF.finditer(text):
        width, precision = m.group(1), m.group(2)
        if width == "*" or precision == "*":
            raise ExpressionError("'*' widths in %-formatting are not allowed")
        extra += int(width or 0) + int(precision or 0)
        if m.group(3) in "eEfFgG" and precision and int(precision) > 1000:
            raise ExpressionError("%-format precision too large")
    if len(fmt) + extra + 4 * _deep_size(args, MAX_SIZE) > MAX_SIZE:
        raise ExpressionError(f"formatted string too large (more than {MAX_SIZE:,} characters)")


def bounded_binop(op: str, left: Any, right: Any, charge: Callable[[int], None] | None = None) -> Any:
    """``left <op> right`` for op in + - * / // % ** << >> & | ^ @, refusing results
    that would be too large, and charging big-integer work to ``charge`` first.
    Shared with the sandboxed Jinja environment."""
    charge = charge or (lambda n: None)
    if isinstance(left, int) and isinstance(right, int) and op != "**":
        _check_int_result(op, left, right)
        cost = int_cost(op, left, right)
        if cost:
            charge(cost)
    if op == "+":
        if isinstance(left, _SEQ) and isinstance(right, _SEQ):
            n = len(left) + len(right)
            if n > MAX_SIZE:
                raise ExpressionError(f"result too large (more than {MAX_SIZE:,} elements)")
            charge(n)
        return left + right
    if op == "*":
        seq, times = None, None
        if isinstance(left, _SEQ) and isinstance(right, int):
            seq, times = left, right
        elif isinstance(right, _SEQ) and isinstance(left, int):
            seq, times = right, left
        if seq is not None:
            if times > 0:
                if len(seq) * times > MAX_SIZE:
                    raise ExpressionError(f"result too large (more than {MAX_SIZE:,} elements)")
                if not isinstance(seq, (str, bytes)) and \
                        _deep_size(seq, MAX_DEEP_SIZE) * times > MAX_DEEP_SIZE:
                    raise ExpressionError(f"result too large (more than {MAX_DEEP_SIZE:,} "
                                          "elements, nested parts included)")
                charge(len(seq) * times)
            return left * right
        return left * right
    if op == "**":
        return _bounded_pow(left, right, None, charge)
    if op == "<<":
        return left << right
    if op == "%":
        if isinstance(left, (str, bytes)):
            _check_printf(left, right)
            charge(len(left) + _deep_size(right, MAX_DEEP_SIZE))
        return left % right
    fn = _PLAIN_BINOPS.get(op)
    if fn is None:
        raise ExpressionError(f"operator {op!r} not allowed")
    return fn(left, right)


def _check_int_result(op: str, left: int, right: int) -> None:
    """Refuse an integer ``*``, ``**`` or ``<<`` whose result would pass MAX_INT_BITS."""
    if op == "*":
        if _int_bits(left) + _int_bits(right) > MAX_INT_BITS:
            raise ExpressionError(f"integer too large (more than {MAX_INT_BITS:,} bits)")
    elif op == "**":
        if right > 0 and abs(left) > 1 and (right > MAX_INT_BITS or
                                            right * left.bit_length() > MAX_INT_BITS):
            raise ExpressionError(f"integer too large (more than {MAX_INT_BITS:,} bits)")
    elif op == "<<":
        if left and right > 0 and _int_bits(left) + right > MAX_INT_BITS:
            raise ExpressionError(f"integer too large (more than {MAX_INT_BITS:,} bits)")


def _bounded_pow(base: Any, exp: Any, mod: Any = None,
                 charge: Callable[[int], None] | None = None) -> Any:
    charge = charge or (lambda n: None)
    ints = all(isinstance(x, int) for x in (base, exp))
    if mod is not None:
        if ints and isinstance(mod, int) and mod:
            charge(_modpow_cost(exp, mod) + int_cost("%", base, mod))
        return pow(base, exp, mod)
    if ints:
        _check_int_result("**", base, exp)
        charge(int_cost("**", base, exp))
    return base ** exp


_PLAIN_BINOPS = {"-": operator.sub, "/": operator.truediv, "//": operator.floordiv,
                 ">>": operator.rshift, "&": operator.and_, "|": operator.or_,
                 "^": operator.xor, "@": operator.matmul}

_BINOP_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
                 ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<",
                 ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
                 ast.MatMult: "@"}

_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
        ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Is: operator.is_, ast.IsNot: operator.is_not,
        ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


# Safe callables

class _SafeFunc:
    """A builtin the evaluator may call: ``fn(interp, *args, **kwargs)``."""

    __slots__ = ("name", "fn")

    def __init__(self, name: str, fn: Callable[..., Any]):
        self.name = name
        self.fn = fn

    def __repr__(self) -> str:
        return f"<builtin {self.name}>"


class _BoundMethod:
    """A whitelisted method of a plain value, ready to be called."""

    __slots__ = ("obj", "name")

    def __init__(self, obj: Any, name: str):
        self.obj = obj
        self.name = name

    def __repr__(self) -> str:
        return f"<method {type(self.obj).__name__}.{self.name}>"


_STR_METHODS = frozenset("""capitalize casefold count endswith find index isalnum isalpha isascii
    isdecimal isdigit isidentifier islower isnumeric isspace istitle isupper lower lstrip
    partition removeprefix removesuffix rfind rindex rpartition rsplit rstrip split splitlines
    startswith strip swapcase title upper join replace center ljust rjust zfill""".split())
_METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS,
    bytes: frozenset("""count endswith find index isalnum isalpha isdigit islower isspace
        isupper lower lstrip rfind rindex rsplit rstrip split startswith strip upper
        decode""".split()),
    dict: frozenset(["get", "keys", "values", "items", "copy"]),
    list: frozenset(["count", "index", "copy"]),
    tuple: frozenset(["count", "index"]),
    set: frozenset(["union", "intersection", "difference", "symmetric_difference",
                    "issubset", "issuperset", "isdisjoint", "copy"]),
    frozenset: frozenset(["union", "intersection", "difference", "symmetric_difference",
                          "issubset", "issuperset", "isdisjoint", "copy"]),
    int: frozenset(["bit_length", "is_integer"]),
    float: frozenset(["is_integer"]),
}


def _method_table(obj: Any) -> frozenset[str]:
    if isinstance(obj, bool):
        return frozenset()
    for typ in (str, bytes, dict, list, tuple, set, frozenset, int, float):
        if type(obj) is typ or isinstance(obj, typ):
            return _METHODS[typ]
    return frozenset()


# The static check

_ALLOWED_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store, ast.BinOp, ast.UnaryOp,
    ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice, ast.Tuple, ast.List,
    ast.Set, ast.Dict, ast.Starred, ast.Call, ast.keyword, ast.Attribute, ast.ListComp,
    ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension,
    ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)
_ALLOWED_CONSTANTS = (str, bytes, int, float, complex, bool, type(None))
_NODE_NAMES = {ast.Lambda: "lambda", ast.NamedExpr: "assignment (:=)",
               ast.JoinedStr: "f-string", ast.FormattedValue: "f-string",
               ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield"}


def _check_tree(tree: ast.AST) -> None:
    count = 0

    def visit(node: ast.AST, depth: int, parent: ast.AST | None) -> None:
        nonlocal count
        count += 1
        if count > MAX_AST_NODES:
            raise ExpressionError(f"expression too complex (more than {MAX_AST_NODES} parts)")
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression nested too deeply (more than {MAX_DEPTH} levels)")
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_NAMES.get(type(node), type(node).__name__)
            raise ExpressionError(f"{what} is not allowed in an expression")
        if isinstance(node, ast.Constant) and not isinstance(node.value, _ALLOWED_CONSTANTS):
            raise ExpressionError(f"constant {node.value!r} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise ExpressionError(f"name {node.id!r} is not allowed")
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise ExpressionError(f"attribute {node.attr!r} is not allowed")
            if not (isinstance(parent, ast.Call) and parent.func is node):
                raise ExpressionError("attributes are allowed only as method calls, e.g. s.upper()")
        if isinstance(node, ast.keyword) and node.arg is not None and node.arg.startswith("_"):
            raise ExpressionError(f"keyword {node.arg!r} is not allowed")
        if isinstance(node, ast.comprehension) and node.is_async:
            raise ExpressionError("async comprehensions are not allowed")
        for child in ast.iter_child_nodes(node):
            visit(child, depth + 1, node)

    visit(tree, 0, None)


# The interpreter

class _Scope:
    __slots__ = ("names", "parent")

    def __init__(self, names: dict[str, Any], parent: "_Scope | None"):
        self.names = names
        self.parent = parent


_MISSING = object()


class _Interpreter:
    def __init__(self, variables: Mapping[str, Any], builtins: Mapping[str, _SafeFunc],
                 max_steps: int, pandas_query: bool):
        self.variables = variables
        self.builtins = builtins
        self.max_steps = max_steps
        self.steps = 0
        self.pandas_query = pandas_query

    # accounting

    def charge(self, n: int) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise ExpressionError(f"expression takes too much work (more than {self.max_steps:,} steps)")

    def size(self, value: Any, what: str = "value") -> int:
        n = check_size(value, what)
        self.charge(n)
        return n

    def items(self, iterable: Any) -> Iterable[Any]:
        """The items of an iterable, charged to the budget (and capped at MAX_SIZE)."""
        if isinstance(iterable, (list, tuple, str, bytes, dict, set, frozenset, range)):
            if len(iterable) > MAX_SIZE:
                raise ExpressionError(f"iterable too large (more than {MAX_SIZE:,} items)")
            self.charge(len(iterable))
            return iterable
        if isinstance(iterable, (_SafeFunc, _BoundMethod)) or not hasattr(iterable, "__iter__"):
            raise ExpressionRuntimeError(f"{type(iterable).__name__!r} object is not iterable")
        out = []
        for item in iterable:
            out.append(item)
            self.charge(1)
            if len(out) > MAX_SIZE:
                raise ExpressionError(f"iterable too large (more than {MAX_SIZE:,} items)")
        return out

    # evaluation

    def eval(self, node: ast.AST, scope: _Scope | None) -> Any:
        self.charge(_NODE_COST)
        method = getattr(self, "eval_" + type(node).__name__)
        return method(node, scope)

    def eval_Expression(self, node: ast.Expression, scope):
        return self.eval(node.body, scope)

    def eval_Constant(self, node: ast.Constant, scope):
        return node.value

    def eval_Name(self, node: ast.Name, scope):
        s = scope
        while s is not None:
            if node.id in s.names:
                return s.names[node.id]
            s = s.parent
        value = self.variables.get(node.id, _MISSING) if self.variables is not None else _MISSING
        if value is not _MISSING:
            return value
        if node.id in self.builtins:
            return self.builtins[node.id]
        raise ExpressionRuntimeError(f"name {node.id!r} is not defined")

    def eval_UnaryOp(self, node: ast.UnaryOp, scope):
        value = self.eval(node.operand, scope)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        if isinstance(node.op, ast.Invert):
            if self.pandas_query and isinstance(value, bool):
                return not value
            return ~value
        raise ExpressionError("operator not allowed")  # pragma: no cover

    def eval_BinOp(self, node: ast.BinOp, scope):
        left = self.eval(node.left, scope)
        right = self.eval(node.right, scope)
        symbol = _BINOP_SYMBOL.get(type(node.op))
        if symbol is None:  # pragma: no cover - every ast operator is listed
            raise ExpressionError("operator not allowed")
        return bounded_binop(symbol, left, right, self.charge)

    def eval_BoolOp(self, node: ast.BoolOp, scope):
        is_and = isinstance(node.op, ast.And)
        value = None
        for expr in node.values:
            value = self.eval(expr, scope)
            if is_and and not value:
                return value
            if not is_and and value:
                return value
        return value

    def eval_Compare(self, node: ast.Compare, scope):
        left = self.eval(node.left, scope)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.eval(comparator, scope)
            if not self._compare(op, left, right):
                return False
            left = right
        return True

    def _compare(self, op: ast.cmpop, left: Any, right: Any) -> bool:
        if isinstance(op, (ast.In, ast.NotIn)):
            if isinstance(right, (list, tuple)):
                self.size(right, "operand")
                self.size(left, "operand")
            elif isinstance(right, (dict, set, frozenset)):
                self.size(left, "operand")
            elif isinstance(right, (str, bytes)):
                self.charge(len(right))
        elif not isinstance(op, (ast.Is, ast.IsNot)):
            if isinstance(left, _CONTAINERS) and isinstance(right, _CONTAINERS):
                self.charge(min(check_size(left, "operand"), check_size(right, "operand")))
            if self.pandas_query and isinstance(op, (ast.Eq, ast.NotEq)) and \
                    isinstance(right, list) and not isinstance(left, list):
                # pandas: ``col == [a, b]`` is a membership test
                return (left in right) == isinstance(op, ast.Eq)
        return bool(_CMP[type(op)](left, right))

    def eval_IfExp(self, node: ast.IfExp, scope):
        if self.eval(node.test, scope):
            return self.eval(node.body, scope)
        return self.eval(node.orelse, scope)

    def eval_Subscript(self, node: ast.Subscript, scope):
        value = self.eval(node.value, scope)
        index = self.eval(node.slice, scope)
        if isinstance(value, (_SafeFunc, _BoundMethod)):
            raise ExpressionRuntimeError("functions cannot be subscripted")
        if isinstance(value, (dict, set, frozenset)) and isinstance(index, tuple):
            self.size(index, "key")
        result = value[index]
        if isinstance(index, slice) and hasattr(result, "__len__"):
            self.charge(len(result))
        return result

    def eval_Slice(self, node: ast.Slice, scope):
        lower = self.eval(node.lower, scope) if node.lower is not None else None
        upper = self.eval(node.upper, scope) if node.upper is not None else None
        step = self.eval(node.step, scope) if node.step is not None else None
        return slice(lower, upper, step)

    def _elements(self, elts: list[ast.expr], scope) -> list[Any]:
        out: list[Any] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                out.extend(self.items(self.eval(elt.value, scope)))
            else:
                out.append(self.eval(elt, scope))
            if len(out) > MAX_SIZE:
                raise ExpressionError(f"result too large (more than {MAX_SIZE:,} elements)")
        return out

    def eval_Tuple(self, node: ast.Tuple, scope):
        return tuple(self._elements(node.elts, scope))

    def eval_List(self, node: ast.List, scope):
        return self._elements(node.elts, scope)

    def eval_Set(self, node: ast.Set, scope):
        items = self._elements(node.elts, scope)
        self.size(items, "set")
        return set(items)

    def eval_Dict(self, node: ast.Dict, scope):
        out: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                mapping = self.eval(value, scope)
                if not isinstance(mapping, Mapping):
                    raise ExpressionRuntimeError("'**' needs a mapping")
                self.charge(len(mapping))
                out.update(mapping)
            else:
                k = self.eval(key, scope)
                if isinstance(k, tuple):
                    self.size(k, "key")
                out[k] = self.eval(value, scope)
            if len(out) > MAX_SIZE:
                raise ExpressionError(f"result too large (more than {MAX_SIZE:,} elements)")
        return out

    def eval_Starred(self, node: ast.Starred, scope):
        raise ExpressionError("'*' is allowed only in calls and displays")

    def eval_Attribute(self, node: ast.Attribute, scope):
        obj = self.eval(node.value, scope)
        if node.attr not in _method_table(obj):
            raise ExpressionError(f"method {type(obj).__name__}.{node.attr}() is not allowed")
        return _BoundMethod(obj, node.attr)

    def eval_Call(self, node: ast.Call, scope):
        func = self.eval(node.func, scope)
        args = self._elements(node.args, scope)
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                mapping = self.eval(kw.value, scope)
                if not isinstance(mapping, Mapping):
                    raise ExpressionRuntimeError("'**' needs a mapping")
                for k, v in mapping.items():
                    if not isinstance(k, str) or k.startswith("_"):
                        raise ExpressionError(f"keyword {k!r} is not allowed")
                    kwargs[k] = v
            else:
                kwargs[kw.arg] = self.eval(kw.value, scope)
        return self.call(func, args, kwargs)

    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if isinstance(func, _SafeFunc):
            return func.fn(self, *args, **kwargs)
        if isinstance(func, _BoundMethod):
            return _call_method(self, func.obj, func.name, args, kwargs)
        raise ExpressionError(f"{type(func).__name__!r} object is not a function this evaluator may call")

    def callable_arg(self, func: Any) -> Callable[[Any], Any]:
        """A safe function passed as an argument (``key=len``), as a Python callable."""
        if func is None:
            return None  # type: ignore[return-value]
        if not isinstance(func, (_SafeFunc, _BoundMethod)):
            raise ExpressionError("only builtins and methods may be passed as functions")
        return lambda *a: self.call(func, list(a), {})

    # comprehensions

    def _comprehension(self, node, scope, make: Callable[[_Scope], None]) -> None:
        gens = node.generators

        def run(i: int, inner: _Scope | None) -> None:
            if i == len(gens):
                make(inner)
                return
            gen = gens[i]
            for item in self.items(self.eval(gen.iter, inner)):
                names: dict[str, Any] = {}
                self.bind(gen.target, item, names)
                child = _Scope(names, inner)
                if all(self.eval(cond, child) for cond in gen.ifs):
                    run(i + 1, child)

        run(0, scope)

    def bind(self, target: ast.AST, value: Any, names: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            if target.id.startswith("__"):
                raise ExpressionError(f"name {target.id!r} is not allowed")
            names[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = list(self.items(value))
            if len(values) != len(target.elts):
                raise ExpressionRuntimeError(
                    f"cannot unpack {len(values)} values into {len(target.elts)} names")
            for t, v in zip(target.elts, values):
                self.bind(t, v, names)
        else:
            raise ExpressionError("only names and tuples of names can be loop targets")

    def eval_ListComp(self, node: ast.ListComp, scope):
        out: list[Any] = []

        def make(inner):
            out.append(self.eval(node.elt, inner))
            if len(out) > MAX_SIZE:
                raise ExpressionError(f"result too large (more than {MAX_SIZE:,} elements)")

        self._comprehension(node, scope, make)
        return out

    eval_GeneratorExp = eval_ListComp  # evaluated eagerly, as a list

    def eval_SetComp(self, node: ast.SetComp, scope):
        items = self.eval_ListComp(node, scope)
        self.size(items, "set")
        return set(items)

    def eval_DictComp(self, node: ast.DictComp, scope):
        out: dict[Any, Any] = {}

        def make(inner):
            key = self.eval(node.key, inner)
            if isinstance(key, tuple):
                self.size(key, "key")
            out[key] = self.eval(node.value, inner)
            if len(out) > MAX_SIZE:
                raise ExpressionError(f"result too large (more than {MAX_SIZE:,} elements)")

        self._comprehension(node, scope, make)
        return out


def _call_method(interp: _Interpreter, obj: Any, name: str, args: list[Any],
                 kwargs: dict[str, Any]) -> Any:
    method = getattr(obj, name)
    if isinstance(obj, str):
        if name == "join":
            parts = list(interp.items(args[0])) if args else []
            if not all(isinstance(p, str) for p in parts):
                raise ExpressionRuntimeError("join() needs strings")
            total = sum(len(p) for p in parts) + len(obj) * max(len(parts) - 1, 0)
            if total > MAX_SIZE:
                raise ExpressionError(f"result too large (more than {MAX_SIZE:,} characters)")
            interp.charge(total)
        elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) \
                and isinstance(args[1], str):
            count = obj.count(args[0]) if args[0] else len(obj) + 1
            if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                count = min(count, args[2])
            if len(obj) + count * (len(args[1]) - len(args[0])) > MAX_SIZE:
                raise ExpressionError(f"result too large (more than {MAX_SIZE:,} characters)")
        elif name in ("center", "ljust", "rjust", "zfill"):
            if args and isinstance(args[0], int) and args[0] > MAX_SIZE:
                raise ExpressionError(f"result too large (more than {MAX_SIZE:,} characters)")
        interp.charge(len(obj))
    elif isinstance(obj, (set, frozenset)):
        for a in args:
            interp.size(a, "operand")
    elif isinstance(obj, (list, tuple, bytes, dict)):
        interp.charge(len(obj))
    result = method(*args, **kwargs)
    if isinstance(obj, dict) and name in ("keys", "values", "items"):
        result = list(result)
    if isinstance(result, (set, frozenset, list)) and len(result) > MAX_SIZE:
        raise ExpressionError(f"result too large (more than {MAX_SIZE:,} elements)")
    return result


# The builtins

def _b_abs(it, x):
    return abs(x)


def _b_all(it, iterable):
    return all(it.items(iterable))


def _b_any(it, iterable):
    return any(it.items(iterable))


def _b_bool(it, x=False):
    return bool(x)


def _b_dict(it, *args, **kwargs):
    if len(args) > 1:
        raise ExpressionRuntimeError("dict expected at most 1 argument")
    if args:
        src = args[0]
        if isinstance(src, Mapping):
            it.size(list(src.keys()), "dict keys")
            result = dict(src)
        else:
            pairs = list(it.items(src))
            it.size(pairs, "dict")
            result = dict(pairs)
    else:
        result = {}
    result.update(kwargs)
    return result


def _b_divmod(it, a, b):
    it.charge(int_cost("divmod", a, b))
    return divmod(a, b)


def _b_enumerate(it, iterable, start=0):
    return list(enumerate(it.items(iterable), start))


def _b_filter(it, func, iterable):
    items = it.items(iterable)
    if func is None:
        return [x for x in items if x]
    fn = it.callable_arg(func)
    return [x for x in items if fn(x)]


def _b_float(it, x=0.0):
    if isinstance(x, str) and len(x) > 1000:
        raise ExpressionError("string too long to convert")
    return float(x)


def _b_int(it, x=0, *args):
    if isinstance(x, (str, bytes)):
        if len(x) > 5000:
            raise ExpressionError("string too long to convert")
        it.charge(len(x) * len(x) // _FROM_STR_RATE)
    return int(x, *args)


def _b_len(it, x):
    if isinstance(x, (_SafeFunc, _BoundMethod)):
        raise ExpressionRuntimeError("object has no len()")
    return len(x)


def _b_list(it, iterable=()):
    return list(it.items(iterable))


def _minmax(fn):
    def run(it, *args, key=None, **kwargs):
        values = args[0] if len(args) == 1 else list(args)
        items = list(it.items(values))
        it.size(items, "operand")
        keyfn = it.callable_arg(key)
        if keyfn is not None:
            kwargs["key"] = keyfn
        return fn(items, **kwargs)
    return run


def _b_pow(it, base, exp, mod=None):
    return _bounded_pow(base, exp, mod, it.charge)


def _b_range(it, *args):
    if not args or len(args) > 3 or not all(isinstance(a, int) for a in args):
        raise ExpressionRuntimeError("range() needs 1 to 3 integers")
    try:
        r = range(*args)
        n = len(r)
    except (OverflowError, ValueError) as exc:
        raise ExpressionError(f"range too large: {exc}") from None
    if n > MAX_SIZE:
        raise ExpressionError(f"range too large (more than {MAX_SIZE:,} items)")
    return r


def _b_reversed(it, seq):
    return list(reversed(list(it.items(seq))))


def _b_round(it, x, ndigits=None):
    if ndigits is None:
        return round(x)
    if isinstance(x, int) and not isinstance(x, bool) and isinstance(ndigits, int) and ndigits < 0:
        # int.__round__ divides x by 10 ** -ndigits; past x's own size the answer is 0.
        places, size = -ndigits, _digits(x)
        if places > size * 10:
            return 0
        divisor = places * 10 // 3 // 30 + 1
        it.charge(int_cost("**", 10, places) +
                  ((size - divisor + 1) * divisor // _QUOTIENT_RATE if size >= divisor else 0))
    return round(x, ndigits)


def _b_set(it, iterable=()):
    items = list(it.items(iterable))
    it.size(items, "set")
    return set(items)


def _b_sorted(it, iterable, key=None, reverse=False):
    items = list(it.items(iterable))
    it.size(items, "operand")
    return sorted(items, key=it.callable_arg(key), reverse=bool(reverse))


def _b_str(it, x=""):
    if isinstance(x, (_SafeFunc, _BoundMethod)):
        return repr(x)
    it.size(x, "value")
    return str(x)


def _b_sum(it, iterable, start=0):
    items = it.items(iterable)
    numbers = (int, float, complex)
    if isinstance(start, numbers) and all(isinstance(x, numbers) for x in items):
        return sum(items, start)
    total = start
    for x in items:
        total = bounded_binop("+", total, x, it.charge)
    return total


def _b_tuple(it, iterable=()):
    return tuple(it.items(iterable))


def _b_zip(it, *iterables):
    lists = [list(it.items(x)) for x in iterables]
    return list(zip(*lists))


def _b_map(it, func, *iterables):
    fn = it.callable_arg(func)
    if fn is None:
        raise ExpressionRuntimeError("map() needs a function")
    lists = [list(it.items(x)) for x in iterables]
    return [fn(*args) for args in zip(*lists)]


_BUILTIN_FUNCS: dict[str, Callable[..., Any]] = {
    "abs": _b_abs, "all": _b_all, "any": _b_any, "bool": _b_bool, "dict": _b_dict,
    "divmod": _b_divmod, "enumerate": _b_enumerate, "filter": _b_filter, "float": _b_float,
    "int": _b_int, "len": _b_len, "list": _b_list, "map": _b_map, "max": _minmax(max),
    "min": _minmax(min), "pow": _b_pow, "range": _b_range, "reversed": _b_reversed,
    "round": _b_round, "set": _b_set, "sorted": _b_sorted, "str": _b_str, "sum": _b_sum,
    "tuple": _b_tuple, "zip": _b_zip,
}

#: Every builtin name an expression may use.
SAFE_BUILTINS: tuple[str, ...] = tuple(sorted(_BUILTIN_FUNCS))
_SAFE_FUNCS = {name: _SafeFunc(name, fn) for name, fn in _BUILTIN_FUNCS.items()}


# Public API

def _pandas_rewrite(source: str) -> tuple[str, dict[str, str]]:
    """pandas ``query`` syntax to Python: `quoted names` become identifiers, and
    ``&``/``|`` become ``and``/``or`` (as pandas does before parsing)."""
    names: dict[str, str] = {}

    def repl(m: re.Match) -> str:
        ident = f"_bt{len(names)}_"
        names[ident] = m.group(1)
        return ident

    source = re.sub(r"`([^`]*)`", repl, source)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError) as exc:
        raise ExpressionError(f"invalid expression: {exc}") from None
    out = []
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in ("&", "|"):
            tok = tok._replace(string=" and " if tok.string == "&" else " or ")
        out.append(tok)
    # untokenize keeps positions only for full 5-tuples; rebuild from strings.
    rebuilt = []
    for tok in out:
        if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                        tokenize.DEDENT):
            continue
        rebuilt.append(tok.string)
    return " ".join(rebuilt), names


class Expression:
    """A parsed and checked expression; :meth:`evaluate` it as often as needed."""

    def __init__(self, source: str, *, builtins: Iterable[str] | None = None,
                 pandas_query: bool = False, max_steps: int = MAX_STEPS):
        if not isinstance(source, str):
            raise ExpressionError("an expression must be a string")
        if len(source) > MAX_EXPRESSION_LENGTH:
            raise ExpressionError(f"expression too long (more than {MAX_EXPRESSION_LENGTH:,} characters)")
        self.source = source
        self.pandas_query = pandas_query
        self.max_steps = max_steps
        self.quoted_names: dict[str, str] = {}
        text = source.strip()
        if pandas_query:
            text, self.quoted_names = _pandas_rewrite(text)
        try:
            self.tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"invalid expression: {exc.msg}") from None
        except (RecursionError, MemoryError, ValueError) as exc:
            raise ExpressionError(f"invalid expression: {type(exc).__name__}") from None
        _check_tree(self.tree)
        allowed = SAFE_BUILTINS if builtins is None else tuple(builtins)
        unknown = [b for b in allowed if b not in _SAFE_FUNCS]
        if unknown:
            raise ValueError(f"no safe builtin named {unknown[0]!r}")
        self.builtins = {name: _SAFE_FUNCS[name] for name in allowed}

    def names(self) -> set[str]:
        """The free names the expression reads (as written, quoted names unquoted)."""
        found = {n.id for n in ast.walk(self.tree) if isinstance(n, ast.Name)}
        return {self.quoted_names.get(n, n) for n in found}

    def evaluate(self, variables: Mapping[str, Any] | None = None) -> Any:
        variables = dict(variables or {})
        for ident, original in self.quoted_names.items():
            if original in variables:
                variables[ident] = variables[original]
        interp = _Interpreter(variables, self.builtins, self.max_steps, self.pandas_query)
        try:
            result = interp.eval(self.tree, None)
            if isinstance(result, (_SafeFunc, _BoundMethod)):
                return result
            if isinstance(result, range):
                result = list(result)
            check_size(result, "result")
            return result
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError("expression nested too deeply") from None
        except MemoryError:
            raise ExpressionError("expression needs too much memory") from None
        except ZeroDivisionError as exc:
            raise ExpressionRuntimeError(str(exc) or "division by zero") from None
        except Exception as exc:
            raise ExpressionRuntimeError(f"{type(exc).__name__}: {exc}") from None


def compile_expression(source: str, **options: Any) -> Expression:
    """Parse and check ``source`` (ExpressionError if it is not allowed)."""
    return Expression(source, **options)


def evaluate(source: str, variables: Mapping[str, Any] | None = None, **options: Any) -> Any:
    """Evaluate ``source`` with ``variables``; ExpressionError on anything not allowed.

    >>> evaluate("(celsius * 9/5) + 32", {"celsius": 32})
    89.6
    """
    return Expression(source, **options).evaluate(variables)
