"""nodetool.list: list nodes.

The current nodetool-base list.py plus the list filters and mappers that older
workflows use (FilterDicts, MapField, FilterDictsByNumber, ...; NodeTool has since
moved them to streaming nodes). Nodes that NodeTool wrote as in-place edits of
their input (Append, Extend) return a new list here, so a list shared by several
consumers is never changed under them.

FilterDicts takes a pandas ``query`` string in NodeTool; here the condition is
evaluated per row by the safe expression evaluator in pandas mode (``and``/``or``/
``not``, ``&``/``|``/``~``, ``in``/``not in``, comparisons, arithmetic, `quoted
names`); a row lacking a key sees NaN for it (so comparisons with it are false,
as in pandas), and rows come back unchanged (native ints stay ints).
"""

import random
from enum import Enum
from functools import reduce
from typing import Any, AsyncIterator, TypedDict

from pydantic import Field

from ..expr import MAX_SIZE
from ..node import BaseNode
from . import _regex
from ._query import matching
from ._util import UNSET, enum_value, LENGTH_FILTERS, value_matches, number_in_range
from .numbers import number_matches

NAMESPACE = "nodetool.list"

__all__ = ["Length", "ListRange", "GenerateSequence", "Slice", "SelectElements", "GetElement",
           "Append", "Extend", "Dedupe", "Reverse", "Randomize", "Sort", "Intersection",
           "Union", "Difference", "Chunk", "Sum", "Average", "Minimum", "Maximum", "Product",
           "Flatten", "FilterDicts", "FilterStrings", "FilterNumbers", "FilterNumberRange",
           "FilterRegex", "FilterNone", "FilterDictsByValue", "FilterDictsByRange",
           "FilterDictsByNumber", "FilterDictsRegex", "Transform", "MapField", "MapTemplate",
           ]


class Length(BaseNode):
    """
    The number of elements in a list.
    list, count, size
    """

    values: list[Any] = []

    async def process(self, context: Any) -> int:
        return len(self.values)


def _checked_range(start: int, stop: int, step: int) -> range:
    if step == 0:
        raise ValueError("step must not be zero")
    r = range(start, stop, step)
    if len(r) > MAX_SIZE:
        raise ValueError(f"range too large (more than {MAX_SIZE:,} items)")
    return r


class ListRange(BaseNode):
    """
    The integers ``range(start, stop, step)`` as a list (at most 1,000,000).
    list, range, sequence, numbers
    """

    start: int = 0
    stop: int = 0
    step: int = 1

    async def process(self, context: Any) -> list[int]:
        return list(_checked_range(self.start, self.stop, self.step))


class GenerateSequence(BaseNode):
    """
    Streams the integers ``range(start, stop, step)``, one item each.
    list, range, sequence, numbers
    """

    start: int = 0
    stop: int = 0
    step: int = 1

    class OutputType(TypedDict):
        output: int

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        if self.step == 0:
            raise ValueError("step must not be zero")
        for i in range(self.start, self.stop, self.step):
            if getattr(context, "cancelled", False):
                return
            yield {"output": i}


class Slice(BaseNode):
    """
    ``values[start:stop:step]``; ``stop`` 0 means to the end; negative indices count from the end.
    list, slice, subset, extract
    """

    values: list[Any] = Field(default=[], description="The input list to slice.")
    start: int = Field(default=0, description="Starting index (inclusive).")
    stop: int = Field(default=0, description="Ending index (exclusive). 0 means to the end.")
    step: int = Field(default=1, description="Step between elements. Negative for reverse order.")

    async def process(self, context: Any) -> list[Any]:
        stop = self.stop if self.stop != 0 else None
        return self.values[self.start:stop:self.step]


class SelectElements(BaseNode):
    """
    The values at the given indices, in that order.
    list, select, index, extract
    """

    values: list[Any] = Field(default=[])
    indices: list[int] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        return [self.values[i] for i in self.indices]


class GetElement(BaseNode):
    """
    The value at ``index`` (IndexError when out of range).
    list, get, extract, value
    """

    values: list[Any] = Field(default=[])
    index: int = Field(default=0)

    async def process(self, context: Any) -> Any:
        return self.values[self.index]


class Append(BaseNode):
    """
    The list with ``value`` added at the end.
    list, add, insert, extend
    """

    values: list[Any] = Field(default=[])
    value: Any = Field(default=UNSET, description="The value to append to the list.")

    async def process(self, context: Any) -> list[Any]:
        return [*self.values, self.value]


class Extend(BaseNode):
    """
    The list followed by the elements of ``other_values``.
    list, merge, concatenate, combine
    """

    values: list[Any] = Field(default=[])
    other_values: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        return [*self.values, *self.other_values]


def _unique(values: list[Any]) -> list[Any]:
    try:
        return list(dict.fromkeys(values))
    except TypeError:  # unhashable elements (dicts, lists): compare by equality
        out: list[Any] = []
        for v in values:
            if v not in out:
                out.append(v)
        return out


class Dedupe(BaseNode):
    """
    The list without duplicates (first occurrences, in order).
    list, unique, distinct, deduplicate
    """

    values: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        return _unique(self.values)


class Reverse(BaseNode):
    """
    The list in reverse order.
    list, reverse, invert, flip
    """

    values: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        return self.values[::-1]


class Randomize(BaseNode):
    """
    A shuffled copy of the list.
    list, shuffle, random, order
    """

    values: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        shuffled = list(self.values)
        random.shuffle(shuffled)
        return shuffled


class Sort(BaseNode):
    """
    The list sorted ascending or descending.
    list, sort, order, arrange
    """

    class SortOrder(str, Enum):
        ASCENDING = "ascending"
        DESCENDING = "descending"

    values: list[Any] = Field(default=[])
    order: SortOrder = SortOrder.ASCENDING

    async def process(self, context: Any) -> list[Any]:
        return sorted(self.values, reverse=enum_value(self.order) == "descending")


class Intersection(BaseNode):
    """
    The elements found in both lists (each once).
    list, set, intersection, common
    """

    list1: list[Any] = Field(default=[])
    list2: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        return [x for x in _unique(self.list1) if x in self.list2]


class Union(BaseNode):
    """
    The elements found in either list (each once).
    list, set, union, combine
    """

    list1: list[Any] = Field(default=[])
    list2: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        return _unique([*self.list1, *self.list2])


class Difference(BaseNode):
    """
    The elements of the first list not in the second (each once).
    list, set, difference, subtract
    """

    list1: list[Any] = Field(default=[])
    list2: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        return [x for x in _unique(self.list1) if x not in self.list2]


class Chunk(BaseNode):
    """
    Splits a list into lists of ``chunk_size`` elements (the last may be shorter).
    list, chunk, split, group
    """

    values: list[Any] = Field(default=[])
    chunk_size: int = Field(default=1, gt=0)

    async def process(self, context: Any) -> list[list[Any]]:
        if self.chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        return [self.values[i:i + self.chunk_size] for i in range(0, len(self.values), self.chunk_size)]


def _numbers(values: list[Any], what: str) -> list[Any]:
    if not values:
        raise ValueError(f"Cannot {what} empty list")
    if not all(isinstance(x, (int, float)) for x in values):
        raise ValueError("All values must be numbers")
    return values


class Sum(BaseNode):
    """
    The sum of a list of numbers (ValueError when empty).
    list, sum, aggregate, math
    """

    values: list[int | float] = Field(default=[])

    async def process(self, context: Any) -> int | float:
        return sum(_numbers(self.values, "sum"))


class Average(BaseNode):
    """
    The arithmetic mean of a list of numbers (ValueError when empty).
    list, average, mean, aggregate, math
    """

    values: list[int | float] = Field(default=[])

    async def process(self, context: Any) -> float:
        values = _numbers(self.values, "average")
        return sum(values) / len(values)


class Minimum(BaseNode):
    """
    The smallest of a list of numbers (ValueError when empty).
    list, min, minimum, aggregate, math
    """

    values: list[int | float] = Field(default=[])

    async def process(self, context: Any) -> int | float:
        return min(_numbers(self.values, "find minimum of"))


class Maximum(BaseNode):
    """
    The largest of a list of numbers (ValueError when empty).
    list, max, maximum, aggregate, math
    """

    values: list[int | float] = Field(default=[])

    async def process(self, context: Any) -> int | float:
        return max(_numbers(self.values, "find maximum of"))


class Product(BaseNode):
    """
    The product of a list of numbers (ValueError when empty).
    list, product, multiply, aggregate, math
    """

    values: list[int | float] = Field(default=[])

    async def process(self, context: Any) -> int | float:
        return reduce(lambda x, y: x * y, _numbers(self.values, "calculate product of"))


class Flatten(BaseNode):
    """
    Flattens nested lists ([[1, [2]], [3]] -> [1, 2, 3]) down to ``max_depth`` levels (-1: all).
    list, flatten, nested, structure
    """

    values: list[Any] = Field(default=[])
    max_depth: int = Field(default=-1, ge=-1)

    async def process(self, context: Any) -> list[Any]:
        if not isinstance(self.values, list):
            raise ValueError("Input must be a list")
        out: list[Any] = []
        stack: list[tuple[Any, int]] = [(iter(self.values), 0)]
        while stack:
            it, depth = stack[-1]
            for item in it:
                if isinstance(item, list) and (self.max_depth == -1 or depth < self.max_depth):
                    stack.append((iter(item), depth + 1))
                    break
                out.append(item)
            else:
                stack.pop()
        return out


# The older list filters and mappers

def _dict_rows(values: Any) -> list[dict]:
    if not isinstance(values, list) or not all(isinstance(item, dict) for item in values):
        raise ValueError("Input must be a list of dictionaries.")
    return values


class FilterDicts(BaseNode):
    """
    The dictionaries for which ``condition`` holds, a pandas-query-style expression
    over each one's keys: ``age > 30``, ``status == 'active' and price <= 100``,
    ``department in ['Sales', 'Marketing']``, ```first name` == 'Ann'``.
    list, filter, query, condition
    """

    values: list[dict] = Field(default=[])
    condition: str = Field(default="", description="The filtering condition (pandas query syntax).")

    async def process(self, context: Any) -> list[dict]:
        rows = _dict_rows(self.values)
        return [row for row, keep in zip(rows, matching(rows, self.condition)) if keep]


class FilterStrings(BaseNode):
    """
    The strings meeting the criteria: contains, starts_with, ends_with,
    length_greater, length_less, exact_length.
    list, filter, strings, text
    """

    class FilterType(str, Enum):
        CONTAINS = "contains"
        STARTS_WITH = "starts_with"
        ENDS_WITH = "ends_with"
        LENGTH_GREATER = "length_greater"
        LENGTH_LESS = "length_less"
        EXACT_LENGTH = "exact_length"

    values: list[str] = Field(default=[])
    filter_type: FilterType = Field(default=FilterType.CONTAINS, description="The type of filter to apply")
    criteria: str = Field(default="", description="Text to match, or a length")

    async def process(self, context: Any) -> list[str]:
        if not isinstance(self.values, list) or not all(isinstance(x, str) for x in self.values):
            raise ValueError("Input must be a list of strings")
        kind = enum_value(self.filter_type)
        if kind in LENGTH_FILTERS:
            try:
                int(self.criteria)
            except ValueError:
                raise ValueError("Length criteria must be a valid integer") from None
        return [s for s in self.values if value_matches(s, kind, self.criteria)]


class FilterNumbers(BaseNode):
    """
    The numbers meeting the condition: greater_than, less_than, equal_to (``value``
    required), even, odd (integers only), positive, negative.
    list, filter, numbers, numeric
    """

    class FilterNumberType(str, Enum):
        GREATER_THAN = "greater_than"
        LESS_THAN = "less_than"
        EQUAL_TO = "equal_to"
        EVEN = "even"
        ODD = "odd"
        POSITIVE = "positive"
        NEGATIVE = "negative"

    values: list[int | float] = Field(default=[])
    filter_type: FilterNumberType = Field(default=FilterNumberType.GREATER_THAN)
    value: int | float | None = Field(default=None, description="The comparison value")

    async def process(self, context: Any) -> list[Any]:
        if not isinstance(self.values, list) or not all(isinstance(x, (int, float)) for x in self.values):
            raise ValueError("Input must be a list of numbers")
        kind = enum_value(self.filter_type)
        if kind in ("greater_than", "less_than", "equal_to") and self.value is None and self.values:
            raise ValueError(f"Value must be specified for {kind} filter")
        if kind in ("even", "odd"):
            return [x for x in self.values if isinstance(x, int) and number_matches(x, kind, None)]
        return [x for x in self.values if number_matches(x, kind, self.value)]


class FilterNumberRange(BaseNode):
    """
    The numbers within [min_value, max_value] (strictly inside when not inclusive).
    list, filter, numbers, range, between
    """

    values: list[int | float] = Field(default=[])
    min_value: float = Field(default=0)
    max_value: float = Field(default=0)
    inclusive: bool = Field(default=True)

    async def process(self, context: Any) -> list[Any]:
        if not isinstance(self.values, list) or not all(isinstance(x, (int, float)) for x in self.values):
            raise ValueError("Input must be a list of numbers")
        if self.inclusive:
            return [x for x in self.values if self.min_value <= x <= self.max_value]
        return [x for x in self.values if self.min_value < x < self.max_value]


class FilterRegex(BaseNode):
    """
    The strings matching ``pattern`` (anywhere, or fully).
    list, filter, regex, pattern, text
    """

    values: list[str] = Field(default=[])
    pattern: str = Field(default="", description="The regular expression pattern to match against.")
    full_match: bool = Field(default=False, description="Match the entire string")

    async def process(self, context: Any) -> list[str]:
        if not isinstance(self.values, list) or not all(isinstance(x, str) for x in self.values):
            raise ValueError("Input must be a list of strings")
        try:
            regex = _regex.compile(self.pattern)
        except _regex.error as exc:
            raise ValueError(f"Invalid regular expression pattern: {exc}") from None
        match = regex.fullmatch if self.full_match else regex.search
        return [s for s in self.values if match(s)]


class FilterNone(BaseNode):
    """
    The list without its None values.
    list, filter, none, null
    """

    values: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[Any]:
        return [x for x in self.values if x is not None]


class FilterDictsByValue(BaseNode):
    """
    The dictionaries whose ``key`` value meets the criteria: contains, starts_with,
    ends_with, equals (on ``str(value)``), type_is (type name), length_greater,
    length_less, exact_length. Dictionaries without the key are dropped.
    list, filter, dictionary, values
    """

    class FilterType(str, Enum):
        CONTAINS = "contains"
        STARTS_WITH = "starts_with"
        ENDS_WITH = "ends_with"
        EQUALS = "equals"
        TYPE_IS = "type_is"
        LENGTH_GREATER = "length_greater"
        LENGTH_LESS = "length_less"
        EXACT_LENGTH = "exact_length"

    values: list[dict] = Field(default=[])
    key: str = Field(default="", description="The dictionary key to check")
    filter_type: FilterType = Field(default=FilterType.CONTAINS)
    criteria: str = Field(default="", description="Text to match, a type name, or a length")

    async def process(self, context: Any) -> list[dict]:
        rows = _dict_rows(self.values)
        kind = enum_value(self.filter_type)
        if kind in ("length_greater", "length_less", "exact_length"):
            try:
                int(self.criteria)
            except ValueError:
                raise ValueError("Length criteria must be a valid integer") from None
        return [row for row in rows if self.key in row and
                value_matches(row[self.key], kind, self.criteria)]


class FilterDictsByRange(BaseNode):
    """
    The dictionaries whose numeric ``key`` value is within [min_value, max_value]
    (strictly inside when not inclusive).
    list, filter, dictionary, range, between
    """

    values: list[dict] = Field(default=[])
    key: str = Field(default="", description="The dictionary key to check for the range")
    min_value: float = Field(default=0, description="The minimum value of the range")
    max_value: float = Field(default=0, description="The maximum value of the range")
    inclusive: bool = Field(default=True, description="Include the min and max values")

    async def process(self, context: Any) -> list[dict]:
        return [row for row in _dict_rows(self.values)
                if number_in_range(row.get(self.key), self.min_value, self.max_value,
                                   self.inclusive)]


class FilterDictsByNumber(BaseNode):
    """
    The dictionaries whose numeric ``key`` value meets the condition: greater_than,
    less_than, equal_to (``value`` required), even, odd, positive, negative. Rows
    without the key, or with a non-number there, are dropped.
    list, filter, dictionary, numbers, numeric
    """

    class FilterDictNumberType(str, Enum):
        GREATER_THAN = "greater_than"
        LESS_THAN = "less_than"
        EQUAL_TO = "equal_to"
        EVEN = "even"
        ODD = "odd"
        POSITIVE = "positive"
        NEGATIVE = "negative"

    values: list[dict] = Field(default=[])
    key: str = Field(default="")
    filter_type: FilterDictNumberType = Field(default=FilterDictNumberType.GREATER_THAN)
    value: int | float | None = Field(default=None)

    async def process(self, context: Any) -> list[dict]:
        kind = enum_value(self.filter_type)
        out = []
        for row in _dict_rows(self.values):
            if self.key not in row:
                continue
            num = row[self.key]
            if not isinstance(num, (int, float)):
                continue
            if kind in ("greater_than", "less_than", "equal_to") and self.value is None:
                raise ValueError(f"Value must be specified for {kind} filter")
            if kind in ("even", "odd") and not isinstance(num, int):
                continue
            if number_matches(num, kind, self.value):
                out.append(row)
        return out


class FilterDictsRegex(BaseNode):
    """
    The dictionaries whose ``key`` value (as a string) matches ``pattern``.
    list, filter, regex, dictionary, pattern
    """

    values: list[dict] = Field(default=[])
    key: str = Field(default="")
    pattern: str = Field(default="")
    full_match: bool = Field(default=False)

    async def process(self, context: Any) -> list[dict]:
        rows = _dict_rows(self.values)
        try:
            regex = _regex.compile(self.pattern)
        except _regex.error as exc:
            raise ValueError(f"Invalid regular expression pattern: {exc}") from None
        match = regex.fullmatch if self.full_match else regex.search
        return [row for row in rows if self.key in row and match(str(row[self.key]))]


class Transform(BaseNode):
    """
    Converts each element: to_int, to_float, to_string, uppercase, lowercase, strip.
    list, transform, map, convert
    """

    class TransformType(str, Enum):
        TO_INT = "to_int"
        TO_FLOAT = "to_float"
        TO_STRING = "to_string"
        UPPERCASE = "uppercase"
        LOWERCASE = "lowercase"
        STRIP = "strip"

    values: list[Any] = Field(default=[])
    transform_type: TransformType = Field(default=TransformType.TO_STRING)

    async def process(self, context: Any) -> list[Any]:
        fn = {"to_int": int, "to_float": float, "to_string": str,
              "uppercase": lambda x: str(x).upper(), "lowercase": lambda x: str(x).lower(),
              "strip": lambda x: str(x).strip()}[enum_value(self.transform_type)]
        try:
            return [fn(x) for x in self.values]
        except (ValueError, TypeError) as exc:
            raise ValueError(f"Transform failed: {exc}") from None


class MapField(BaseNode):
    """
    The ``field`` of each dictionary (``default`` where it is missing).
    list, map, field, extract, pluck
    """

    values: list[Any] = Field(default=[])
    field: str = Field(default="")
    default: Any = Field(default=None)

    async def process(self, context: Any) -> list[Any]:
        if not isinstance(self.values, list):
            raise ValueError("Input must be a list of dictionaries or objects")

        def get(item: Any) -> Any:
            if isinstance(item, dict):
                return item.get(self.field, self.default)
            if self.field.startswith("_"):
                return self.default
            return getattr(item, self.field, self.default)

        return [get(item) for item in self.values]


class MapTemplate(BaseNode):
    """
    Renders a Jinja2 template for each dictionary ("Name: {{ name }}"); items the
    template fails on are skipped.
    list, template, map, formatting
    """

    template: str = Field(default="", description="Template with Jinja2 placeholders")
    values: list[Any] = Field(default=[])

    async def process(self, context: Any) -> list[str]:
        from .text import render_jinja

        results = []
        for item in self.values:
            if isinstance(item, dict):
                variables = {str(k): v for k, v in item.items()}
            elif hasattr(item, "__dict__"):
                variables = {k: v for k, v in vars(item).items() if not k.startswith("_")}
            else:
                continue
            try:
                results.append(render_jinja(self.template, variables))
            except Exception:
                continue
        return results
