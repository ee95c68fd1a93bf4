"""YAML parsing that remembers where each key and list item starts."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError, Problem

__all__ = ["Positions", "parse"]

Loc = tuple[Hashable, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
# Bounds on what one file may make: a config has hundreds of values and a few KB, while
# aliases to aliases (&a [*b, *b, ...]) can make a 1 KB file expand to billions.
MAX_BYTES = 2 * 1024 * 1024
MAX_VALUES = 100_000


@dataclass(frozen=True)
class Positions:
    """Where each key path starts in one file (1-based line and column).

    A mapping entry is found at its key, a list item at the item; the root is 1:1.
    """

    file: str
    marks: Mapping[Loc, tuple[int, int]] = field(default_factory=dict)

    def find(self, loc: Loc) -> tuple[Loc, tuple[int, int]]:
        """Return the longest prefix of ``loc`` that is in the file, and its position.

        A missing key is reported at its parent; a key added by a validator
        (a route's ``handler`` in the ``module:function`` shorthand) at its owner.
        """
        for end in range(len(loc), 0, -1):
            prefix = tuple(loc[:end])
            try:
                return prefix, self.marks[prefix]
            except (KeyError, TypeError):  # TypeError: an unhashable loc item
                continue
        return (), (1, 1)

    def line_col(self, loc: Loc) -> tuple[int, int]:
        return self.find(loc)[1]


def _syntax_problem(file: str, err: yaml.YAMLError) -> Problem:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    # Only the short descriptions: str(err) quotes the source line, which may hold a value.
    problem = getattr(err, "problem", None) or "invalid YAML"
    context = getattr(err, "context", None)
    message = f"{problem} ({context})" if context else problem
    return Problem(file, line, col, "(yaml)", message)


def parse(
    text: str, file: str, *, transform: Callable[[Any], Any] = lambda v: v
) -> tuple[Any, Positions]:
    """Parse one YAML document; return the data and the position of every key path.

    ``transform`` is applied to every constructed string (keys included) before
    the positions are recorded, so positions match the data that is returned.
    An empty document is ``{}``. Syntax errors, duplicate keys and recursive
    aliases raise :class:`ConfigError`.
    """
    if len(text) > MAX_BYTES:
        raise ConfigError([Problem(file, 1, 1, "(yaml)", f"the file is {len(text):,} characters; "
                                   f"a config may be at most {MAX_BYTES:,}")])
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, Positions(file, {(): (1, 1)})
        # Before construction: constructing merges ("<<") flattens the nodes.
        problems = _check(node, file, (), (), [MAX_VALUES])
        if problems:
            raise ConfigError(problems)
        data = loader.construct_document(node)
        marks: dict[Loc, tuple[int, int]] = {(): (1, 1)}
        _walk(loader, node, (), marks, transform)
    except yaml.YAMLError as err:
        raise ConfigError([_syntax_problem(file, err)]) from None
    finally:
        loader.dispose()
    return _apply(data, transform), Positions(file, marks)


def _check(
    node: Node, file: str, ancestors: tuple[Node, ...], loc: tuple[str, ...], budget: list[int]
) -> list[Problem]:
    """Find duplicate keys (YAML would silently keep the last) and recursive aliases.

    Visits the document as it expands (an alias once per use), so ``budget`` (the
    values left to :data:`MAX_VALUES`) stops an alias bomb before anything is built.
    """
    budget[0] -= 1
    if budget[0] < 0:
        mark = node.start_mark
        raise ConfigError([Problem(
            file, mark.line + 1, mark.column + 1, ".".join(loc) or "(yaml)",
            f"the file expands to more than {MAX_VALUES:,} values through its aliases "
            "(*name); a config needs far fewer")])
    if any(node is a for a in ancestors):
        mark = node.start_mark
        path = ".".join(loc) or "(yaml)"
        message = "an alias may not contain itself"
        return [Problem(file, mark.line + 1, mark.column + 1, path, message)]
    problems: list[Problem] = []
    ancestors = (*ancestors, node)
    if isinstance(node, MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG:
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if key in seen:
                    col = key_node.start_mark.column + 1
                    path = ".".join((*loc, key_node.value))
                    message = (
                        f"duplicate key {key_node.value!r} (first on line {seen[key]}); "
                        "remove one, or merge them"
                    )
                    problems.append(Problem(file, line, col, path, message))
                else:
                    seen[key] = line
            problems += _check(value_node, file, ancestors, (*loc, str(key_node.value)), budget)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            problems += _check(item, file, ancestors, (*loc, str(i)), budget)
    return problems


def _walk(
    loader: yaml.SafeLoader,
    node: Node,
    loc: Loc,
    marks: dict[Loc, tuple[int, int]],
    transform: Callable[[Any], Any],
) -> None:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            key = _apply(loader.construct_object(key_node, deep=True), transform)
            try:
                hash(key)
            except TypeError:
                continue
            here = (*loc, key)
            marks[here] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(loader, value_node, here, marks, transform)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            here = (*loc, i)
            marks[here] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _walk(loader, item, here, marks, transform)


def _apply(data: Any, transform: Callable[[Any], Any]) -> Any:
    if isinstance(data, str):
        return transform(data)
    if isinstance(data, dict):
        return {_apply(k, transform): _apply(v, transform) for k, v in data.items()}
    if isinstance(data, list):
        return [_apply(v, transform) for v in data]
    return data
