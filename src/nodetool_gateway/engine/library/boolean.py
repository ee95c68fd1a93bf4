"""nodetool.boolean: comparisons and logic."""

from enum import Enum
from typing import Any

from pydantic import Field

from ..node import BaseNode
from ._util import UNSET, enum_value

NAMESPACE = "nodetool.boolean"

__all__ = ["ConditionalSwitch", "LogicalOperator", "Not", "Compare", "IsNone", "IsIn", "All",
           "Some"]


class ConditionalSwitch(BaseNode):
    """
    Returns ``if_true`` when ``condition`` holds, else ``if_false`` (both are computed
    upstream; this only selects).
    if, condition, flow-control, branch, true, false, switch, toggle
    """

    condition: bool = Field(default=False, description="The condition to check")
    if_true: Any = Field(default=UNSET, description="The value to return if the condition is true")
    if_false: Any = Field(default=UNSET, description="The value to return if the condition is false")

    async def process(self, context: Any) -> Any:
        return self.if_true if self.condition else self.if_false


class LogicalOperator(BaseNode):
    """
    Combines two booleans with and, or, xor, nand or nor.
    boolean, logic, operator, condition, flow-control, branch, else, true, false, switch, toggle
    """

    class BooleanOperation(str, Enum):
        AND = "and"
        OR = "or"
        XOR = "xor"
        NAND = "nand"
        NOR = "nor"

    a: bool = Field(default=False, description="First boolean input")
    b: bool = Field(default=False, description="Second boolean input")
    operation: BooleanOperation = Field(default=BooleanOperation.AND,
                                        description="Logical operation to perform")

    async def process(self, context: Any) -> bool:
        op = enum_value(self.operation)
        if op == "and":
            return self.a and self.b
        if op == "or":
            return self.a or self.b
        if op == "xor":
            return self.a ^ self.b
        if op == "nand":
            return not (self.a and self.b)
        if op == "nor":
            return not (self.a or self.b)
        raise ValueError(f"Unsupported operation: {op}")


class Not(BaseNode):
    """
    Inverts a boolean.
    boolean, logic, not, invert, !, negation, condition
    """

    value: bool = Field(default=False, description="Boolean input to negate")

    async def process(self, context: Any) -> bool:
        return not self.value


class Compare(BaseNode):
    """
    Compares two numbers with ==, !=, >, <, >= or <=.
    compare, condition, logic
    """

    class Comparison(str, Enum):
        EQUAL = "=="
        NOT_EQUAL = "!="
        GREATER_THAN = ">"
        LESS_THAN = "<"
        GREATER_THAN_OR_EQUAL = ">="
        LESS_THAN_OR_EQUAL = "<="

    a: int | float = Field(default=0, description="First value to compare")
    b: int | float = Field(default=0, description="Second value to compare")
    comparison: Comparison = Field(default=Comparison.EQUAL, description="Comparison operator to use")

    async def process(self, context: Any) -> bool:
        op = enum_value(self.comparison)
        if op == "==":
            return self.a == self.b
        if op == "!=":
            return self.a != self.b
        if op == ">":
            return self.a > self.b
        if op == "<":
            return self.a < self.b
        if op == ">=":
            return self.a >= self.b
        if op == "<=":
            return self.a <= self.b
        raise ValueError(f"Unsupported comparison: {op}")


class IsNone(BaseNode):
    """
    Whether the value is None.
    null, none, check
    """

    value: Any = Field(default=UNSET, description="The value to check for None")

    async def process(self, context: Any) -> bool:
        return self.value is None


class IsIn(BaseNode):
    """
    Whether the value is one of ``options``.
    membership, contains, check
    """

    value: Any = Field(default=UNSET, description="The value to check for membership")
    options: list[Any] = Field(default=[], description="The list of options to check against")

    async def process(self, context: Any) -> bool:
        return self.value in self.options


class All(BaseNode):
    """
    Whether every value is true (true for an empty list).
    boolean, all, check, logic, condition, flow-control, branch
    """

    values: list[bool] = Field(default=[], description="List of boolean values to check")

    async def process(self, context: Any) -> bool:
        return all(self.values)


class Some(BaseNode):
    """
    Whether any value is true (false for an empty list).
    boolean, any, check, logic, condition, flow-control, branch
    """

    values: list[bool] = Field(default=[], description="List of boolean values to check")

    async def process(self, context: Any) -> bool:
        return any(self.values)
