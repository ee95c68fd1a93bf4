"""nodetool.dictionary: dictionary nodes.

Update and Remove edit their input in place in NodeTool; here they return a new
dictionary, so a dictionary shared by several consumers is never changed under them.
The streaming filters (FilterDictBy...) handle one dictionary per run and pass it
on or not.
"""

import json
import math
from enum import Enum
from typing import Any, AsyncIterator, TypedDict

from pydantic import Field

from ..expr import Expression, ExpressionError
from ..node import BaseNode
from . import _regex
from ._util import UNSET, enum_value, value_matches, number_in_range
from .numbers import number_matches

NAMESPACE = "nodetool.dictionary"

__all__ = ["GetValue", "Update", "Remove", "ParseJSON", "Zip", "Combine", "Filter",
           "ReduceDictionaries", "MakeDictionary", "ArgMax", "FilterDictByValue",
           "FilterDictByRange", "FilterDictByNumber", "FilterDictRegex", "FilterDictByQuery"]


class GetValue(BaseNode):
    """
    ``dictionary[key]``, or ``default`` when the key is missing.
    dictionary, get, value, key
    """

    dictionary: dict[str, Any] = Field(default={})
    key: str = Field(default="")
    default: Any = Field(default=UNSET)

    async def process(self, context: Any) -> Any:
        return self.dictionary.get(self.key, self.default)


class Update(BaseNode):
    """
    The dictionary with ``new_pairs`` merged in (their values win).
    dictionary, add, update
    """

    dictionary: dict[str, Any] = Field(default={})
    new_pairs: dict[str, Any] = Field(default={})

    async def process(self, context: Any) -> dict[str, Any]:
        return {**self.dictionary, **self.new_pairs}


class Remove(BaseNode):
    """
    The dictionary without ``key`` (no error when it is missing).
    dictionary, remove, delete
    """

    dictionary: dict[str, Any] = Field(default={})
    key: str = Field(default="")

    async def process(self, context: Any) -> dict[str, Any]:
        return {k: v for k, v in self.dictionary.items() if k != self.key}


class ParseJSON(BaseNode):
    """
    Parses a JSON object string into a dictionary (ValueError if it is not an object).
    json, parse, dictionary
    """

    json_string: str = Field(default="")

    async def process(self, context: Any) -> dict[str, Any]:
        result = json.loads(self.json_string)
        if not isinstance(result, dict):
            raise ValueError("Input JSON is not a dictionary")
        return result


class Zip(BaseNode):
    """
    A dictionary pairing ``keys`` with ``values`` (up to the shorter list).
    dictionary, create, zip
    """

    keys: list[Any] = Field(default=[])
    values: list[Any] = Field(default=[])

    async def process(self, context: Any) -> dict[Any, Any]:
        return dict(zip(self.keys, self.values))


class Combine(BaseNode):
    """
    ``{**dict_a, **dict_b}``: both merged, dict_b's values winning.
    dictionary, merge, update, +, add, concatenate
    """

    dict_a: dict[str, Any] = Field(default={})
    dict_b: dict[str, Any] = Field(default={})

    async def process(self, context: Any) -> dict[str, Any]:
        return {**self.dict_a, **self.dict_b}


class Filter(BaseNode):
    """
    Only the listed keys (in the order of ``keys``; missing keys skipped).
    dictionary, filter, select
    """

    dictionary: dict[str, Any] = Field(default={})
    keys: list[str] = Field(default=[])

    async def process(self, context: Any) -> dict[str, Any]:
        return {k: self.dictionary[k] for k in self.keys if k in self.dictionary}


class ReduceDictionaries(BaseNode):
    """
    One dictionary from a list: each item's ``key_field`` value becomes a key, mapped
    to its ``value_field`` (or the item without the key field). Duplicate keys keep
    the first, the last, or raise.
    dictionary, reduce, aggregate
    """

    class ConflictResolution(str, Enum):
        FIRST = "first"
        LAST = "last"
        ERROR = "error"

    dictionaries: list[dict[str, Any]] = Field(default=[], description="List of dictionaries to be reduced")
    key_field: str = Field(default="", description="The field to use as the key")
    value_field: str = Field(default="", description="Optional field to use as the value")
    conflict_resolution: ConflictResolution = Field(default=ConflictResolution.FIRST)

    async def process(self, context: Any) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        mode = enum_value(self.conflict_resolution)
        for d in self.dictionaries:
            if self.key_field not in d:
                raise ValueError(f"Key field '{self.key_field}' not found in dictionary")
            key = d[self.key_field]
            if self.value_field:
                if self.value_field not in d:
                    raise ValueError(f"Value field '{self.value_field}' not found in dictionary")
                value = d[self.value_field]
            else:
                value = {k: v for k, v in d.items() if k != self.key_field}
            if key in result:
                if mode == "first":
                    continue
                if mode == "last":
                    result[key] = value
                else:
                    raise ValueError(f"Duplicate key found: {key}")
            else:
                result[key] = value
        return result


class MakeDictionary(BaseNode):
    """
    A dictionary of the node's dynamic properties (their names are the keys).
    dictionary, create, simple
    """

    is_dynamic = True

    async def process(self, context: Any) -> dict[str, Any]:
        return dict(self.dynamic_properties)


class ArgMax(BaseNode):
    """
    The label with the highest score (ValueError when empty).
    dictionary, maximum, label, argmax
    """

    scores: dict[str, float] = Field(default={}, description="Labels mapped to scores")

    async def process(self, context: Any) -> str:
        if not self.scores:
            raise ValueError("Input dictionary cannot be empty")
        return max(self.scores.items(), key=lambda kv: kv[1])[0]


class FilterDictByValue(BaseNode):
    """
    Passes on each streamed dictionary whose ``key`` value meets the criteria
    (contains, starts_with, ends_with, equals, type_is, length_greater, length_less,
    exact_length).
    filter, dictionary, values, stream
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

    value: dict = Field(default={}, description="Input dictionary stream")
    key: str = Field(default="", description="The dictionary key to check")
    filter_type: FilterType = Field(default=FilterType.CONTAINS)
    criteria: str = Field(default="", description="Text to match, a type name, or a length")

    class OutputType(TypedDict):
        output: dict

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        d = self.value
        if not isinstance(d, dict) or self.key not in d:
            return
        try:
            matched = value_matches(d[self.key], enum_value(self.filter_type), self.criteria)
        except ValueError:  # a length criteria that is not a number: skip
            return
        if matched:
            yield {"output": d}


class FilterDictByRange(BaseNode):
    """
    Passes on each streamed dictionary whose numeric ``key`` value is within the range.
    filter, dictionary, range, between, stream
    """

    value: dict = Field(default={}, description="Input dictionary stream")
    key: str = Field(default="", description="The dictionary key to check for the range")
    min_value: float = Field(default=0, description="The minimum value of the range")
    max_value: float = Field(default=0, description="The maximum value of the range")
    inclusive: bool = Field(default=True, description="Include the min and max values")

    class OutputType(TypedDict):
        output: dict

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        d = self.value
        if not isinstance(d, dict) or self.key not in d:
            return
        if number_in_range(d[self.key], self.min_value, self.max_value, self.inclusive):
            yield {"output": d}


class FilterDictByNumber(BaseNode):
    """
    Passes on each streamed dictionary whose numeric ``key`` value meets the
    condition (greater_than, less_than, equal_to, even, odd, positive, negative).
    filter, dictionary, numbers, numeric, stream
    """

    class FilterDictNumberType(str, Enum):
        GREATER_THAN = "greater_than"
        LESS_THAN = "less_than"
        EQUAL_TO = "equal_to"
        EVEN = "even"
        ODD = "odd"
        POSITIVE = "positive"
        NEGATIVE = "negative"

    value: dict = Field(default={}, description="Input dictionary stream")
    key: str = Field(default="", description="The dictionary key to check")
    filter_type: FilterDictNumberType = Field(default=FilterDictNumberType.GREATER_THAN)
    compare_value: float = Field(default=0, description="Comparison value")

    class OutputType(TypedDict):
        output: dict

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        d = self.value
        if not isinstance(d, dict) or self.key not in d:
            return
        num = d[self.key]
        kind = enum_value(self.filter_type)
        if kind in ("even", "odd") and not isinstance(num, int):
            return
        if number_matches(num, kind, self.compare_value):
            yield {"output": d}


class FilterDictRegex(BaseNode):
    """
    Passes on each streamed dictionary whose ``key`` value (as a string) matches ``pattern``.
    filter, regex, dictionary, pattern, stream
    """

    value: dict = Field(default={}, description="Input dictionary stream")
    key: str = Field(default="", description="The dictionary key to check")
    pattern: str = Field(default="", description="The regex pattern")
    full_match: bool = Field(default=False, description="Full match or partial")

    class OutputType(TypedDict):
        output: dict

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        d = self.value
        if not isinstance(d, dict) or self.key not in d:
            return
        try:
            regex = _regex.compile(self.pattern)
        except _regex.error:
            return
        text = str(d[self.key])
        if (regex.fullmatch(text) if self.full_match else regex.search(text)):
            yield {"output": d}


class FilterDictByQuery(BaseNode):
    """
    Passes on each streamed dictionary for which ``condition`` holds (pandas query
    style, as nodetool.list.FilterDicts); an empty condition passes everything, and a
    condition that fails on a dictionary drops it.
    filter, query, condition, dictionary, stream
    """

    value: dict = Field(default={}, description="Input dictionary stream")
    condition: str = Field(default="", description="The filtering condition (pandas query syntax).")

    class OutputType(TypedDict):
        output: dict

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        d = self.value
        if not isinstance(d, dict):
            return
        if not self.condition.strip():
            yield {"output": d}
            return
        try:
            keep = Expression(self.condition, pandas_query=True).evaluate(d)
        except ExpressionError:
            return
        if keep and not (isinstance(keep, float) and math.isnan(keep)):
            yield {"output": d}
