"""The Jinja2 sandbox behind FormatText and the other template nodes, with limits.

Templates come from workflow data, so a render must stay cheap whatever it says.
On top of :class:`~jinja2.sandbox.SandboxedEnvironment` (no unsafe attributes,
``range`` capped at ``MAX_RANGE``):

- every value a template builds is bounded as in :mod:`..expr` (``*``, ``+``,
  ``%``, ``**``, ``~``, ``str`` methods, filters such as ``replace``, ``indent``,
  ``join``, ``sum``, ``wordwrap``, ``format``, and ``lipsum``);
- each render has a work budget of :data:`MAX_TEMPLATE_STEPS`: loop iterations,
  calls, filters (by the size of what they read), comparisons and big-integer
  arithmetic are charged to it, so nested loops or an exponential macro stop;
- each render produces at most :data:`MAX_TEMPLATE_OUTPUT` characters, counted as
  they are written (into the result or any buffer: macros, ``set`` blocks);
- a template has at most :data:`MAX_TEMPLATE_TOKENS` tokens (literal text is one),
  since compiling one costs about 13 microseconds a token.

Ordinary templates render exactly as with a plain sandbox. Every refusal is a
:class:`~jinja2.sandbox.SecurityError` that says which limit was passed.
"""

from __future__ import annotations

import contextvars
import functools
import string
from typing import Any, Callable, Iterable, Iterator

from jinja2 import BaseLoader, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, find_undeclared, operators, optimizeconst
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from ..expr import MAX_DEEP_SIZE, MAX_SIZE, MAX_STEPS, ExpressionError, bounded_binop, check_size

__all__ = ["render_jinja", "check_template", "MAX_TEMPLATE_TOKENS", "MAX_TEMPLATE_STEPS",
           "MAX_TEMPLATE_OUTPUT", "MAX_LIPSUM_WORDS"]

MAX_TEMPLATE_TOKENS = 30_000        # compiling costs about 13 microseconds a token
MAX_TEMPLATE_STEPS = MAX_STEPS      # work units per render (one is about 0.2 microseconds)
MAX_TEMPLATE_OUTPUT = 10_000_000    # characters written per render
MAX_LIPSUM_WORDS = 100_000

# Costs in steps, measured: a plain loop pass, one with ``loop.*``, a call, a macro call.
_ITERATION_COST = 1
_LOOP_CONTEXT_COST = 15
_CALL_COST = 2
_MACRO_COST = 25
_STR_SCAN_RATE = 128  # characters a C-level string operation handles per step


class _Budget:
    __slots__ = ("steps", "output")

    def __init__(self) -> None:
        self.steps = 0
        self.output = 0


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("template_budget",
                                                                          default=None)


def _charge(steps: int) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.steps += steps
        if budget.steps > MAX_TEMPLATE_STEPS:
            raise SecurityError(f"template takes too much work (more than "
                                f"{MAX_TEMPLATE_STEPS:,} steps: loops, calls, filters)")


def _too_large(what: str, limit: int) -> SecurityError:
    return SecurityError(f"{what} too large (more than {limit:,} characters or elements)")


def _weigh(value: Any, per_item: bool = False) -> int:
    """What reading ``value`` costs: its characters (by ``_STR_SCAN_RATE`` unless a
    Python loop visits each) or its nested size; refuses values past MAX_DEEP_SIZE."""
    if isinstance(value, str):
        return len(value) if per_item else len(value) // _STR_SCAN_RATE
    if isinstance(value, range):
        return len(value)
    if value is None or isinstance(value, (bool, float)):
        return 0
    try:
        return check_size(value, "value")
    except ExpressionError as exc:
        raise SecurityError(str(exc)) from None


# Filters

_FREE_FILTERS = frozenset(["length", "count", "default", "d", "safe", "attr", "first", "last",
                           "abs", "float", "int", "round", "filesizeformat", "boolean"])
# filters whose Python code visits each element (each character of a string), and
# those that also call a key function or build a list per element
_PER_ITEM_FILTERS = frozenset(["list", "sort", "unique", "batch", "slice", "map", "select",
                               "reject", "selectattr", "rejectattr", "join", "sum", "min", "max",
                               "groupby", "dictsort", "random", "pprint", "wordwrap", "urlize",
                               "items"])
_KEYED_FILTERS = frozenset(["sort", "unique", "dictsort", "groupby", "min", "max", "batch",
                            "slice", "pprint"])
_KEYED_COST = 5


def _check_replace(s: Any, old: Any, new: Any, count: Any = None) -> None:
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        hits = s.count(old) if old else len(s) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        if len(s) + hits * (len(new) - len(old)) > MAX_DEEP_SIZE:
            raise _too_large("replace() result", MAX_DEEP_SIZE)


def _check_indent(s: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    if isinstance(s, str):
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if len(s) + (s.count("\n") + 1) * pad > MAX_DEEP_SIZE:
            raise _too_large("indent() result", MAX_DEEP_SIZE)


def _check_wordwrap(s: Any, width: Any = 79, break_long_words: Any = True, *args: Any,
                    **kwargs: Any) -> None:
    # textwrap cuts a long word by copying what is left of it each time: quadratic.
    if isinstance(s, str) and isinstance(width, int) and width > 0 and \
            kwargs.get("break_long_words", break_long_words):
        longest = max((len(w) for w in s.split()), default=0)
        if longest > width:
            _charge(longest * longest // (width * 400))


def _sized(args: list[Any], at: int) -> list[Any]:
    """Materialize a lazy iterable argument (a generator from ``map``) so it can be
    measured; the filter iterates it anyway."""
    value = args[at]
    if not isinstance(value, (str, list, tuple, dict, set, frozenset, range)) and \
            hasattr(value, "__iter__"):
        items = []
        for item in value:
            items.append(item)
            if len(items) > MAX_SIZE:
                raise _too_large("iterable", MAX_SIZE)
        args[at] = items
    return args


def _check_join(items: Any, sep: Any = "", *args: Any, **kwargs: Any) -> None:
    sep = kwargs.get("d", sep)
    if isinstance(items, (list, tuple, str, range)):
        size = _weigh(items, per_item=True) + max(len(items) - 1, 0) * len(str(sep))
        if size > MAX_DEEP_SIZE:
            raise _too_large("join() result", MAX_DEEP_SIZE)


def _check_sum(items: Any, attribute: Any = None, start: Any = 0, *args: Any, **kwargs: Any) -> None:
    start = kwargs.get("start", start)
    if isinstance(items, (list, tuple)) and (isinstance(start, (list, tuple, str)) or
                                             any(isinstance(x, (list, tuple, str)) for x in items)):
        # adding sequences copies the running total each time: quadratic
        total = sum(len(x) for x in items if isinstance(x, (list, tuple, str)))
        if total > MAX_SIZE:
            raise _too_large("sum() result", MAX_SIZE)
        _charge(len(items) * total // 50)


_FILTER_CHECKS: dict[str, Callable[..., None]] = {
    "replace": _check_replace, "indent": _check_indent, "wordwrap": _check_wordwrap,
    "join": _check_join, "sum": _check_sum,
}


def _guard_filter(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    at = 1 if getattr(original, "jinja_pass_arg", None) is not None else 0
    per_item = name in _PER_ITEM_FILTERS
    weight = _KEYED_COST if name in _KEYED_FILTERS else 1
    check = _FILTER_CHECKS.get(name)
    free = name in _FREE_FILTERS

    @functools.wraps(original)  # keeps jinja's pass_context/pass_environment marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if len(args) <= at:
            return original(*args, **kwargs)
        extra = list(args[at + 1:]) + list(kwargs.values())
        if any(isinstance(v, int) and not isinstance(v, bool) and v > MAX_SIZE for v in extra):
            raise _too_large(f"argument of {name}()", MAX_SIZE)
        if per_item:
            args = tuple(_sized(list(args), at))
        _charge(_CALL_COST + (0 if free else _weigh(args[at], per_item) * weight))
        if check is not None:
            check(*args[at:], **kwargs)
        return original(*args, **kwargs)

    return guarded


def _bounded_lipsum(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> Any:
        words = n * max if isinstance(n, int) and isinstance(max, int) else 0
        if words > MAX_LIPSUM_WORDS:
            raise SecurityError(f"lipsum() too large (more than {MAX_LIPSUM_WORDS:,} words)")
        _charge(words * 5)
        return original(n, html, min, max)

    return lipsum


# str.format in templates

_FORMATTER = string.Formatter()


def _check_format(fmt: str, args: tuple, kwargs: dict) -> None:
    """Refuse a ``"...".format(...)`` whose widths or repeated fields would build
    a huge string; nested widths (``{:{w}}``) are judged by the largest argument."""
    try:
        fields = list(_FORMATTER.parse(fmt))
    except ValueError:
        return  # str.format raises the same error
    numbers = [v for v in list(args) + list(kwargs.values())
               if isinstance(v, int) and not isinstance(v, bool)]
    width = 0
    for _literal, field, spec, _conversion in fields:
        if field is None:
            continue
        spec = spec or ""
        digits = [int(d) for d in "".join(c if c.isdigit() else " " for c in spec).split()]
        if "{" in spec:
            digits += numbers
        width += max(digits, default=0)
    size = len(fmt) + width + len(fields) * sum(_weigh(v, per_item=True) for v in
                                                 list(args) + list(kwargs.values()))
    if width > MAX_SIZE or size > MAX_DEEP_SIZE:
        raise _too_large("format() result", MAX_DEEP_SIZE)


# The environment

_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}
_GROWING_METHODS = {"append", "extend", "insert", "update", "add", "setdefault"}


class _BoundedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment that also bounds sizes and charges work to the render."""

    intercepted_binops = frozenset(["*", "**", "+", "-", "/", "//", "%"])

    def call_binop(self, context, operator, left, right):  # type: ignore[override]
        try:
            return bounded_binop(operator, left, right, _charge)
        except ExpressionError as exc:
            raise SecurityError(str(exc)) from None

    def call_test(self, name, value, args=None, kwargs=None, context=None, eval_ctx=None):
        _charge(_CALL_COST)
        return super().call_test(name, value, args, kwargs, context, eval_ctx)

    def call(__self, __context, __obj, *args, **kwargs):  # type: ignore[override]
        _charge(_MACRO_COST if isinstance(__obj, Macro) else _CALL_COST)
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (__self.counted_loop(args[0]),) + args[1:]
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            args = __self._check_str_method(owner, name, args)
        elif isinstance(owner, (list, dict, set)) and name in _GROWING_METHODS:
            added = sum(len(a) if hasattr(a, "__len__") else 1 for a in args)
            if len(owner) + added > MAX_SIZE:
                raise _too_large(f"{type(owner).__name__}.{name}() result", MAX_SIZE)
            _charge(added // _STR_SCAN_RATE)
        return super().call(__context, __obj, *args, **kwargs)

    @staticmethod
    def _check_str_method(owner: str, name: str, args: tuple) -> tuple:
        """Refuse a str method call that would build a huge string; the arguments to
        call it with (a lazy iterable given to join() is made a list)."""
        _charge(len(owner) // _STR_SCAN_RATE)
        if name in _WIDTH_METHODS and any(isinstance(a, int) and a > MAX_SIZE for a in args):
            raise _too_large(f"str.{name}() result", MAX_SIZE)
        if name == "expandtabs" and args and isinstance(args[0], int) and \
                len(owner) + owner.count("\t") * args[0] > MAX_DEEP_SIZE:
            raise _too_large("str.expandtabs() result", MAX_DEEP_SIZE)
        if name == "replace" and len(args) >= 2:
            _check_replace(owner, *args)
        if name == "join" and args:
            parts = _sized(list(args), 0)[0]
            size = _weigh(parts, per_item=True) + len(owner) * len(parts)
            if size > MAX_DEEP_SIZE:
                raise _too_large("str.join() result", MAX_DEEP_SIZE)
            return (parts,) + tuple(args[1:])
        return args
        if name == "translate" and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
            if len(owner) * longest > MAX_DEEP_SIZE:
                raise _too_large("str.translate() result", MAX_DEEP_SIZE)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__
        is_map = value.__name__ == "format_map"

        def guarded(*args: Any, **kwargs: Any) -> str:
            if is_map and len(args) == 1 and isinstance(args[0], dict):
                _check_format(fmt, (), args[0])
            else:
                _check_format(fmt, args, kwargs)
            return wrapped(*args, **kwargs)

        return functools.update_wrapper(guarded, value)

    # called from the generated code (see _BudgetedCodeGenerator)

    def counted_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _charge(_ITERATION_COST)
            yield item

    def counted_loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _charge(_LOOP_CONTEXT_COST)
            yield item

    def count_output(self, text: str) -> str:
        budget = _BUDGET.get()
        if budget is not None:
            budget.output += len(text)
            if budget.output > MAX_TEMPLATE_OUTPUT:
                raise _too_large("template output", MAX_TEMPLATE_OUTPUT)
            budget.steps += 1
        return text

    def bounded_concat(self, join: Callable[[Iterable[Any]], str], parts: tuple) -> str:
        size = sum(_weigh(p, per_item=True) if not isinstance(p, str) else len(p) for p in parts)
        if size > MAX_SIZE:
            raise _too_large("string built with ~", MAX_SIZE)
        _charge(size // _STR_SCAN_RATE)
        return join(parts)

    def weigh(self, value: Any) -> Any:
        _charge(_weigh(value))
        return value


def _finalize(value: Any) -> Any:
    """Refuse to print a value whose text would be huge (before ``str()`` builds it)."""
    if not isinstance(value, str):
        _charge(_weigh(value))
    return value


class _BudgetedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with loops, output, ``~`` and comparisons routed
    through the environment's counters."""

    def visit_Template(self, node, frame=None):  # type: ignore[override]
        for loop in node.find_all(nodes.For):
            extended = (loop.recursive
                        or "loop" in find_undeclared(loop.iter_child_nodes(only=("body",)), ("loop",))
                        or any(block.scoped for block in loop.find_all(nodes.Block)))
            counter = nodes.EnvironmentAttribute("counted_loop" if extended else "counted_iter",
                                                 lineno=loop.lineno)
            loop.iter = nodes.Call(counter, [loop.iter], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)

    def _output_const_repr(self, group):  # type: ignore[override]
        return f"environment.count_output({super()._output_const_repr(group)})"

    def _output_child_pre(self, node, frame, finalize):  # type: ignore[override]
        self.write("environment.count_output(")
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node, frame, finalize):  # type: ignore[override]
        super()._output_child_post(node, frame, finalize)
        self.write(")")

    @optimizeconst
    def visit_Concat(self, node, frame):  # type: ignore[override]
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.bounded_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    @optimizeconst
    def visit_Compare(self, node, frame):  # type: ignore[override]
        self.write("(environment.weigh(")
        self.visit(node.expr, frame)
        self.write(")")
        for op in node.ops:
            self.write(f" {operators[op.op]} environment.weigh(")
            self.visit(op.expr, frame)
            self.write(")")
        self.write(")")


def _make_env() -> SandboxedEnvironment:
    # NodeTool: Environment(loader=BaseLoader()) with default settings (no autoescape,
    # Undefined renders as "", keep_trailing_newline=False).
    env = _BoundedSandbox(loader=BaseLoader(), finalize=_finalize)
    env.code_generator_class = _BudgetedCodeGenerator
    for name in list(env.filters):
        env.filters[name] = _guard_filter(name, env.filters[name])
    fmt = env.filters["format"]

    @functools.wraps(fmt)
    def bounded_format(value, *args, **kwargs):
        try:
            bounded_binop("%", str(value), args or kwargs, _charge)
        except ExpressionError as exc:
            raise SecurityError(str(exc)) from None
        return fmt(value, *args, **kwargs)

    env.filters["format"] = bounded_format
    env.globals["lipsum"] = _bounded_lipsum(env.globals["lipsum"])
    return env


_ENV = _make_env()


def check_template(template: str) -> None:
    """Refuse a template with more than MAX_TEMPLATE_TOKENS tokens (before compiling it).
    A syntax error is left for the compiler to report."""
    try:
        for count, _token in enumerate(_ENV.lex(template), 1):
            if count > MAX_TEMPLATE_TOKENS:
                raise SecurityError(f"template too long (more than {MAX_TEMPLATE_TOKENS:,} tokens)")
    except TemplateSyntaxError:
        return


def render_jinja(template: str, variables: dict[str, Any]) -> str:
    """Render ``template`` in the bounded sandbox, with a fresh budget (errors propagate)."""
    check_template(template)
    token = _BUDGET.set(_Budget())
    try:
        return _ENV.from_string(template).render(**variables)
    finally:
        _BUDGET.reset(token)
