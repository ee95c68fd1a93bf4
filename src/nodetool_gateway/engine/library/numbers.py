"""nodetool.numbers: filters over streams of numbers. Each run handles one value
(the engine runs the node again per streamed value) and passes it on or not."""

from enum import Enum
from typing import Any, AsyncIterator, TypedDict

from pydantic import Field

from ..node import BaseNode
from ._util import enum_value, number_in_range

NAMESPACE = "nodetool.numbers"

__all__ = ["FilterNumber", "FilterNumberRange", "number_matches"]


def number_matches(num: Any, filter_type: str, compare_value: Any) -> bool:
    """NodeTool's number filters (shared with list.FilterNumbers)."""
    if isinstance(num, bool) or not isinstance(num, (int, float)):
        return False
    if filter_type == "greater_than":
        return compare_value is not None and num > compare_value
    if filter_type == "less_than":
        return compare_value is not None and num < compare_value
    if filter_type == "equal_to":
        return compare_value is not None and num == compare_value
    if filter_type == "even":
        return num % 2 == 0
    if filter_type == "odd":
        return num % 2 != 0
    if filter_type == "positive":
        return num > 0
    if filter_type == "negative":
        return num < 0
    return False


class FilterNumber(BaseNode):
    """
    Passes on each streamed number meeting the condition: greater_than, less_than,
    equal_to (``compare_value``), even, odd, positive, negative.
    filter, numbers, numeric, stream
    """

    class FilterNumberType(str, Enum):
        GREATER_THAN = "greater_than"
        LESS_THAN = "less_than"
        EQUAL_TO = "equal_to"
        EVEN = "even"
        ODD = "odd"
        POSITIVE = "positive"
        NEGATIVE = "negative"

    value: int | float = Field(default=0.0, description="Input number stream")
    filter_type: FilterNumberType = Field(default=FilterNumberType.GREATER_THAN,
                                          description="The type of filter to apply")
    compare_value: float = Field(default=0, description="The comparison value")

    class OutputType(TypedDict):
        output: float

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        if number_matches(self.value, enum_value(self.filter_type), self.compare_value):
            yield {"output": self.value}


class FilterNumberRange(BaseNode):
    """
    Passes on each streamed number within [min_value, max_value] (or strictly inside,
    when not inclusive).
    filter, numbers, range, between, stream
    """

    value: int | float = Field(default=0.0, description="Input number stream")
    min_value: float = Field(default=0, description="Minimum value")
    max_value: float = Field(default=0, description="Maximum value")
    inclusive: bool = Field(default=True, description="Inclusive bounds")

    class OutputType(TypedDict):
        output: float

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        if number_in_range(self.value, self.min_value, self.max_value, self.inclusive):
            yield {"output": self.value}
