"""nodetool.code: EvaluateExpression, on the safe evaluator (never ``eval``)."""

from typing import Any

from pydantic import Field

from ..expr import ExpressionRuntimeError, evaluate
from ..node import BaseNode

NAMESPACE = "nodetool.code"

__all__ = ["EvaluateExpression"]


class EvaluateExpression(BaseNode):
    """
    Evaluates a Python expression over ``variables``: "(celsius * 9/5) + 32",
    "order_total > 100", "len(name) > 0". An empty expression gives None.

    Allowed: literals, arithmetic, comparisons, and/or/not, x if c else y, indexing
    and slicing, comprehensions, the builtins abs all any bool dict divmod enumerate
    filter float int len list map max min pow range reversed round set sorted str sum
    tuple zip, and plain methods of strings, lists and dicts (s.upper()). Not allowed:
    imports, lambdas, names or attributes starting with "_", huge values.
    python, expression, evaluate
    """

    expression: str = Field(default="", description="Python expression to evaluate. "
                            "Variables are available as names.")
    variables: dict[str, Any] = Field(default={}, description="Variables available to the expression")

    async def process(self, context: Any) -> Any:
        if not self.expression.strip():
            return None
        try:
            return evaluate(self.expression, self.variables)
        except ExpressionRuntimeError as exc:
            # NodeTool: RuntimeError(f"Error evaluating expression: {e}")
            raise RuntimeError(f"Error evaluating expression: {exc}") from exc
