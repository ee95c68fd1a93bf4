"""pandas ``query`` conditions over rows, on the engine's safe evaluator.

NodeTool hands a workflow's condition to ``DataFrame.query``, which resolves
attributes and calls methods of whatever the expression reaches; a workflow's text
is not trusted here, so the same syntax is evaluated per row by
:class:`~..expr.Expression` in pandas mode instead. nodetool.list.FilterDicts and
nodetool.data.Filter / FindRow share this code.
"""

from __future__ import annotations

from typing import Any

from ..expr import Expression, ExpressionError

__all__ = ["matching"]


def matching(rows: list[dict[str, Any]], condition: str) -> list[bool]:
    """Whether ``condition`` holds for each row. A row lacking a key another row has
    sees NaN for it (so comparisons with it are false, as in pandas)."""
    if not condition.strip():
        raise ValueError("expr cannot be an empty string")
    try:
        expr = Expression(condition, pandas_query=True)
    except ExpressionError as exc:
        raise ValueError(f"Invalid condition {condition!r}: {exc}") from None
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    nan = float("nan")
    keep = []
    for row in rows:
        variables = {col: row.get(col, nan) for col in columns}
        try:
            keep.append(bool(expr.evaluate(variables)))
        except ExpressionError as exc:
            raise ValueError(f"Condition {condition!r} failed: {exc}") from None
    return keep
