"""Render a config file: a sandboxed Jinja2 template that produces YAML."""

from __future__ import annotations

import copy
import os
import re
import secrets as _random
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .._redact import MASK, redact
from . import _yaml
from .errors import ConfigError, Problem

__all__ = ["Rendered", "render", "redact", "REDACTED"]

REDACTED = MASK
# Jinja's delimiters: a file without any is plain YAML.
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#")

_ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_UNSET: Any = object()
MARKER_PREFIX = "__nodetool_secret_"


@dataclass(frozen=True)
class Rendered:
    """A rendered config file, not yet validated.

    ``text`` holds a marker wherever the template called ``secret()``;
    ``secrets`` maps each marker to the real value, which validation puts back.
    """

    file: Path
    text: str
    secrets: dict[str, str] = field(repr=False)
    values: dict[str, Any]
    files: tuple[Path, ...]


class _TemplateProblem(Exception):
    """Raised by template helpers; reported at the template line that called them."""


class _Secrets:
    """What ``secret()`` reads, kept where the template cannot reach it.

    The template gets only :meth:`function`, a plain function returning a marker;
    the marker -> value table stays here. Every call gets a new marker, so markers
    cannot be compared to learn whether two secrets (or a secret and a guessed
    default) are equal.
    """

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ
        # Random so that no literal text in a config can pass for a marker.
        self._token = _random.token_hex(4)
        self._prefix = f"{MARKER_PREFIX}{self._token}_"
        self.markers: dict[str, str] = {}  # marker -> value

    def read(self, name: Any, default: Any = _UNSET) -> str:
        if not isinstance(name, str) or not name:
            raise _TemplateProblem("secret() needs the name of an environment variable")
        if name in self._environ:
            return self._environ[name]
        if f"{name}_FILE" in self._environ:
            path = self._environ[f"{name}_FILE"]
            try:
                return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as err:
                reason = getattr(err, "strerror", None) or type(err).__name__
                raise _TemplateProblem(
                    f"secret {name!r}: cannot read {name}_FILE ({path}): {reason}"
                ) from None
        if default is not _UNSET:
            return "" if default is None else str(default)
        raise _TemplateProblem(
            f"secret {name!r} is not set: set the environment variable {name}, "
            f"or {name}_FILE to a file that holds it, or give secret() a default"
        )

    def peek(self, names: Iterable[str]) -> set[str]:
        """The values of ``names`` that can be read now (to redact errors raised before the call)."""
        found = set()
        for name in names:
            try:
                found.add(self.read(name, ""))
            except _TemplateProblem:
                continue
        return found

    def function(self) -> Any:
        def secret(name: Any, default: Any = _UNSET) -> str:
            marker = f"{self._prefix}{len(self.markers)}__"
            self.markers[marker] = self.read(name, default)
            return marker

        return secret

    def mangled(self, text: str) -> int | None:
        """The 1-based line of a marker a filter changed (``| upper``, a slice), if any."""
        for marker in self.markers:
            text = text.replace(marker, "")
        at = text.lower().find(self._token)
        return None if at < 0 else text.count("\n", 0, at) + 1


def _declared_secrets(ast: Any) -> set[str]:
    """The names in ``secret('NAME')`` calls written with a literal name."""
    from jinja2 import nodes

    names = set()
    for call in ast.find_all(nodes.Call):
        if (isinstance(call.node, nodes.Name) and call.node.name == "secret" and call.args
                and isinstance(call.args[0], nodes.Const) and isinstance(call.args[0].value, str)):
            names.add(call.args[0].value)
    return names


def _scalar(raw: str) -> Any:
    if raw == "":
        return ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    # Only scalars: "--set tags=[a,b]" stays the string the user typed.
    return value if value is None or isinstance(value, (str, int, float, bool)) else raw


def _apply_sets(values: dict[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    problems = []
    for i, item in enumerate(sets, 1):
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            # The argument is not echoed: it may hold a secret typed on the command line.
            message = "expected KEY.PATH=VALUE, e.g. --set region=eu-west-1"
            problems.append(Problem("--set", i, 1, "(set)", message))
            continue
        target = values
        for depth, part in enumerate(parts[:-1]):
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                message = "is not a mapping, so it cannot hold keys"
                problems.append(Problem("--set", i, 1, f"values.{where}", message))
                break
            target = child
        else:
            target[parts[-1]] = _scalar(raw)
    if problems:
        raise ConfigError(problems)
    return values


def _environment_values(config: Path, environment: str) -> tuple[dict[str, Any], _yaml.Positions]:
    if not _ENVIRONMENT_NAME.match(environment):
        raise ConfigError([
            Problem(str(config), 1, 1, "(environment)",
                    "an environment name may hold only letters, digits, '.', '_' and '-'")
        ])  # fmt: skip
    path = config.parent / "environments" / f"{environment}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        # A typo (--env prdo) or a config copied without its folder would otherwise
        # render the defaults without a word.
        folder = path.parent
        known = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
        have = (f"the environments there: {', '.join(known)}" if known
                else f"{folder} has no environments")
        raise ConfigError([Problem(str(config), 1, 1, "(environment)",
                                   f"--env {environment}: no {path} ({have}); create it "
                                   "(it may be empty) or drop --env")]) from None
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError([Problem(str(path), 1, 1, "(file)", f"cannot read: {reason}")]) from None
    data, positions = _yaml.parse(text, str(path))
    if not isinstance(data, dict):
        raise ConfigError([
            Problem(str(path), 1, 1, "(values)", "should be a mapping of names to values")
        ])  # fmt: skip
    return data, positions


# Dict methods a template may call on values: `.get('k')` reads k, the rest read it all.
_GETTERS = frozenset({"get"})
_WHOLE = frozenset({"get", "items", "keys", "values"})
Path_ = tuple[str, ...]


def _values_read(ast: Any) -> set[Path_] | None:
    """The ``values`` key paths the template can read, or None when it may read any.

    Static, so a value read only in a branch not taken still counts: the check is
    for names nothing in the file reads (typos, keys meant for the config itself),
    not for values one environment happens not to need. ``values`` used whole
    (``values | tojson``, ``values.items()``, ``values[name]``) may read anything.
    """
    from jinja2 import nodes

    found: set[Path_] = set()

    def chain(node: Any) -> Path_ | None:
        # values.a.b, values['a'].b, values.get('a') -> ('a', 'b'); None: not rooted in values.
        if isinstance(node, nodes.Name):
            return () if node.name == "values" else None
        if isinstance(node, nodes.Getattr):
            base = chain(node.node)
            if base is None:
                return None
            return base if node.attr in _WHOLE else (*base, node.attr)
        if isinstance(node, nodes.Getitem):
            base = chain(node.node)
            if base is None:
                return None
            key = node.arg
            return (*base, key.value) if isinstance(key, nodes.Const) and isinstance(
                key.value, str) else base
        if (isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr)
                and node.node.attr in _GETTERS and node.args
                and isinstance(node.args[0], nodes.Const) and isinstance(node.args[0].value, str)):
            base = chain(node.node.node)
            return None if base is None else (*base, node.args[0].value)
        return None

    def visit(node: Any) -> None:
        path = chain(node)
        if path is not None:
            if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const):
                visit(node.arg)  # values[secret('T')]: the key expression is read too
            if isinstance(node, nodes.Call):
                for arg in (*node.args[1:], *(kw.value for kw in node.kwargs)):
                    visit(arg)
            found.add(path)
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(ast)
    return None if () in found else found


def _leaf_paths(data: Any, prefix: Path_ = ()) -> list[Path_]:
    if isinstance(data, dict) and data:
        return [p for key, value in data.items() for p in _leaf_paths(value, (*prefix, str(key)))]
    return [prefix]


def _is_read(path: Path_, read: set[Path_]) -> bool:
    return any(path[: len(r)] == r or r[: len(path)] == path for r in read)


def _unread(
    name: str, read: set[Path_] | None, sets: Sequence[str], values: Mapping[str, Any],
    positions: _yaml.Positions | None,
) -> list[Problem]:
    """A problem for each --set and values-file key that nothing in the template reads."""
    import difflib

    if read is None:
        return []
    known = sorted(".".join(p) for p in read)
    shown = ", ".join(f"values.{k}" for k in known[:12]) + (", …" if len(known) > 12 else "")
    reads = f"It reads {shown}." if known else "It reads no values."

    def message(path: Path_) -> str:
        dotted = ".".join(path)
        close = difflib.get_close_matches(dotted, known, n=1)
        hint = f"; did you mean values.{close[0]}?" if close else "."
        return (f"{Path(name).name} never reads values.{dotted}{hint} {reads} "
                "--set and environments/NAME.yaml only feed the template's `values`: "
                f"use {{{{ values.{dotted} }}}} in the config, or drop it")

    problems = []
    for i, item in enumerate(sets, 1):
        path = tuple(item.partition("=")[0].strip().split("."))
        if not _is_read(path, read):
            problems.append(Problem("--set", i, 1, "values." + ".".join(path), message(path)))
    if positions is not None:
        for path in _leaf_paths(values):
            if path and not _is_read(path, read):
                line, col = positions.line_col(path)
                problems.append(Problem(positions.file, line, col, ".".join(path), message(path)))
    return problems


def _template_line(err: BaseException, filename: str) -> int:
    # Jinja rewrites tracebacks so that template frames carry template line numbers.
    line = 1
    tb = err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _message(err: Exception) -> str:
    from jinja2 import TemplateError, UndefinedError

    if isinstance(err, _TemplateProblem):
        return str(err)
    if isinstance(err, UndefinedError):
        return f"{err.message}; define it, or give a fallback with | default(...)"
    if isinstance(err, TemplateError):  # sandbox violations among others
        return err.message or type(err).__name__
    return f"{type(err).__name__}: {err}"


def render(
    path: str | os.PathLike[str],
    *,
    environment: str | None = None,
    sets: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Rendered:
    """Render the config template at ``path`` to YAML text.

    The template sees ``env`` (``environ``, default ``os.environ``),
    ``environment`` (the ``--env`` name), ``values`` (``environments/<NAME>.yaml``
    beside the file, then each ``--set KEY.PATH=VALUE`` on top), ``hostname`` and
    ``secret(NAME, default=...)``, which reads ``NAME`` or the file named by
    ``NAME_FILE`` and leaves only a marker in the text.

    Raises :class:`ConfigError` for unreadable files, a malformed ``--set``
    (reported as file ``--set``, line = which ``--set``), and template errors
    (undefined names, syntax errors, sandbox violations) at their line.
    """
    file = Path(path)
    name = str(file)
    environ = dict(os.environ if environ is None else environ)
    try:
        source = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        problem = Problem(name, 1, 1, "(file)", f"cannot read the config file: {reason}")
        raise ConfigError([problem]) from None

    files = [file]
    values: dict[str, Any] = {}
    positions = None
    if environment is not None:
        values, positions = _environment_values(file, environment)
        files.append(Path(positions.file))
    file_values = values
    values = _apply_sets(copy.deepcopy(values), sets)

    secret = _Secrets(environ)
    if not _TEMPLATE_SYNTAX.search(source):
        # Plain YAML renders to itself: values have nowhere to go.
        problems = _unread(name, set(), sets, file_values, positions)
        if problems:
            raise ConfigError(problems)
        return Rendered(file=file, text=source.replace("\r\n", "\n"), secrets={},
                        values=values, files=tuple(files))
    from jinja2 import StrictUndefined, TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    jinja = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context = {
        "env": environ,
        "environment": environment,
        "values": values,
        "hostname": socket.gethostname(),
        "secret": secret.function(),
    }
    known: set[str] = set()
    try:
        ast = jinja.parse(source, name, name)
        # Known before rendering: an error raised before the secret() call may quote it too.
        known = secret.peek(_declared_secrets(ast))
        problems = _unread(name, _values_read(ast), sets, file_values, positions)
        if problems:
            raise ConfigError(problems)
        template = jinja.template_class.from_code(
            jinja, jinja.compile(ast, name, name), jinja.make_globals(None), None)
        text = template.render(context)
    except ConfigError:
        raise
    except TemplateSyntaxError as err:
        problem = Problem(name, err.lineno or 1, 1, "(template)", err.message or "syntax error")
        raise ConfigError([problem]) from None
    except Exception as err:  # noqa: BLE001 - any template failure is a config problem
        message = redact(_message(err), [*known, *secret.markers.values()])
        problem = Problem(name, _template_line(err, name), 1, "(template)", message)
        raise ConfigError([problem]) from None
    line = secret.mangled(text)
    if line is not None:
        message = ("a secret() value was changed by a filter or a slice; "
                   "use {{ secret('NAME') }} as it is")
        raise ConfigError([Problem(name, line, 1, "(template)", message)])
    return Rendered(
        file=file,
        text=text,
        secrets=dict(secret.markers),
        values=values,
        files=tuple(files),
    )
