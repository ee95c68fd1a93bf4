"""nodetool.code: EvaluateExpression, on the safe evaluator (never ``eval``), and
ExecutePython, in a process of its own and only when the node's config allows it."""

from contextlib import aclosing
from typing import Any, AsyncIterator, TypedDict

from pydantic import Field

from ..expr import ExpressionRuntimeError, evaluate
from ..node import BaseNode
from ._python_process import Limits, SnippetError, run_snippet

NAMESPACE = "nodetool.code"

__all__ = ["EvaluateExpression", "ExecutePython"]

CODE_OFF = ("Python code execution is off in this node's config: set code.execute_python: "
            "true to turn it on. A snippet then runs in its own process with the time and "
            "memory limits of the code section and no secrets, but with the file and network "
            "access of the user the node runs as: anyone who can send this node a workflow "
            "can read and change that user's files.")


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


def _code_config(services: Any) -> Any:
    """The node's ``code`` section when it allows ExecutePython, else None."""
    section = getattr(getattr(services, "config", None), "code", None)
    return section if getattr(section, "execute_python", False) else None


class ExecutePython(BaseNode):
    """
    Executes Python code in a separate process, when the node's config allows it
    (code.execute_python).
    python, code, execute

    The code runs as-is with ``inputs`` (and any dynamic inputs) as its local variables;
    what it assigns to ``result`` is the output. Lines it prints arrive on ``stdout`` and
    ``stderr`` (and as log updates) while it runs. Values cross as JSON.
    """

    is_dynamic = True

    code: str = Field(default="", description="Python code to execute. Input variables are "
                      "available as locals. Assign the desired output to the 'result' variable.")
    inputs: dict[str, Any] = Field(default={}, description="Input variables available to the "
                                   "code as locals.")
    stdin: str = Field(default="", description="Text written to the process's stdin.")

    class OutputType(TypedDict):
        output: Any
        stdout: str
        stderr: str

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        return [] if _code_config(services) is not None else [CODE_OFF]

    async def gen_process(self, context: Any) -> AsyncIterator[OutputType]:
        config = _code_config(getattr(context, "services", None))
        if config is None:
            raise RuntimeError(CODE_OFF)
        if not self.code.strip():
            return
        limits = Limits(timeout=config.timeout, memory=config.memory,
                        max_output=config.max_output)
        local_vars = {**self.dynamic_properties, **self.inputs}
        try:
            async with aclosing(run_snippet(self.code, local_vars, limits,
                                            stdin=self.stdin)) as events:
                async for name, value in events:
                    if name == "result":
                        if value is not None:
                            yield {"output": value}
                        continue
                    # NodeTool sends each line as a log update too: stderr as an error.
                    context.log(value.rstrip("\n"), "info" if name == "stdout" else "error")
                    yield {name: value}
        except SnippetError as exc:
            raise RuntimeError(f"Error executing Python code: {exc}") from None
