"""nodetool.list: the current list nodes and the older filters and mappers."""

import pytest

from nodetool_gateway.engine.library import list as L

from .conftest import Ctx, gen

PEOPLE = [{"name": "Alice", "age": 25, "dept": "Sales"},
          {"name": "Bob", "age": 35, "dept": "IT"},
          {"name": "Cid", "age": 40, "dept": "Sales"}]

CASES = [
    (L.Length, {"values": [1, 2, 3]}, 3), (L.Length, {}, 0),
    (L.ListRange, {"start": 1, "stop": 7, "step": 2}, [1, 3, 5]), (L.ListRange, {}, []),
    (L.Slice, {"values": [0, 1, 2, 3, 4], "start": 1, "stop": 3}, [1, 2]),
    (L.Slice, {"values": [0, 1, 2, 3, 4], "start": 2}, [2, 3, 4]),
    (L.Slice, {"values": [0, 1, 2, 3, 4], "start": -2}, [3, 4]),
    (L.Slice, {"values": [0, 1, 2, 3, 4], "step": 2}, [0, 2, 4]),
    (L.Slice, {}, []),
    (L.SelectElements, {"values": ["a", "b", "c"], "indices": [2, 0]}, ["c", "a"]),
    (L.GetElement, {"values": ["a", "b"], "index": -1}, "b"),
    (L.Append, {"values": [1], "value": 2}, [1, 2]), (L.Append, {}, [()]),
    (L.Extend, {"values": [1], "other_values": [2, 3]}, [1, 2, 3]), (L.Extend, {}, []),
    (L.Dedupe, {"values": [3, 1, 3, 2, 1]}, [3, 1, 2]),
    (L.Dedupe, {"values": [{"a": 1}, {"a": 1}, {"a": 2}]}, [{"a": 1}, {"a": 2}]),
    (L.Reverse, {"values": [1, 2, 3]}, [3, 2, 1]),
    (L.Sort, {"values": [3, 1, 2]}, [1, 2, 3]),
    (L.Sort, {"values": ["b", "a"], "order": "descending"}, ["b", "a"]),
    (L.Intersection, {"list1": [1, 2, 2, 3], "list2": [2, 3, 4]}, [2, 3]),
    (L.Union, {"list1": [1, 2], "list2": [2, 3]}, [1, 2, 3]),
    (L.Difference, {"list1": [1, 2, 3, 1], "list2": [2]}, [1, 3]),
    (L.Chunk, {"values": [1, 2, 3, 4, 5], "chunk_size": 2}, [[1, 2], [3, 4], [5]]),
    (L.Chunk, {"values": [1, 2]}, [[1], [2]]),
    (L.Sum, {"values": [1, 2, 3.5]}, 6.5), (L.Sum, {"values": [1, 2]}, 3),
    (L.Average, {"values": [1, 2, 3, 4]}, 2.5),
    (L.Minimum, {"values": [3, -1, 2]}, -1), (L.Maximum, {"values": [3, -1, 2]}, 3),
    (L.Product, {"values": [2, 3, 4]}, 24),
    (L.Flatten, {"values": [[1, [2, 3]], [4, [5, [6]]], 7]}, [1, 2, 3, 4, 5, 6, 7]),
    (L.Flatten, {"values": [[1, [2, 3]], 4], "max_depth": 1}, [1, [2, 3], 4]),
    (L.Flatten, {"values": [[1, [2]]], "max_depth": 0}, [[1, [2]]]),
    (L.FilterDicts, {"values": PEOPLE, "condition": "age > 30"}, PEOPLE[1:]),
    (L.FilterDicts, {"values": PEOPLE, "condition": "age > 30 and dept == 'Sales'"}, [PEOPLE[2]]),
    (L.FilterDicts, {"values": PEOPLE, "condition": "dept in ['IT', 'HR']"}, [PEOPLE[1]]),
    (L.FilterDicts, {"values": PEOPLE, "condition": "not (age < 30) & (name != 'Cid')"}, [PEOPLE[1]]),
    (L.FilterDicts, {"values": PEOPLE, "condition": "age % 2 == 0"}, [PEOPLE[2]]),
    (L.FilterDicts, {"values": [], "condition": "age > 1"}, []),
    (L.FilterStrings, {"values": ["apple", "banana", "cherry"], "criteria": "an"}, ["banana"]),
    (L.FilterStrings, {"values": ["apple", "banana"], "filter_type": "starts_with", "criteria": "b"}, ["banana"]),
    (L.FilterStrings, {"values": ["apple", "banana"], "filter_type": "ends_with", "criteria": "e"}, ["apple"]),
    (L.FilterStrings, {"values": ["a", "abc"], "filter_type": "length_greater", "criteria": "1"}, ["abc"]),
    (L.FilterStrings, {"values": ["a", "abc"], "filter_type": "length_less", "criteria": "2"}, ["a"]),
    (L.FilterStrings, {"values": ["a", "abc"], "filter_type": "exact_length", "criteria": "3"}, ["abc"]),
    (L.FilterNumbers, {"values": [1, 5, 10], "value": 4}, [5, 10]),
    (L.FilterNumbers, {"values": [1, 5, 10], "filter_type": "less_than", "value": 5}, [1]),
    (L.FilterNumbers, {"values": [1, 5.0, 10], "filter_type": "equal_to", "value": 5}, [5.0]),
    (L.FilterNumbers, {"values": [1, 2, 4.0], "filter_type": "even"}, [2]),
    (L.FilterNumbers, {"values": [1, 2, 3.0], "filter_type": "odd"}, [1]),
    (L.FilterNumbers, {"values": [-1, 0, 2], "filter_type": "positive"}, [2]),
    (L.FilterNumbers, {"values": [-1, 0, 2], "filter_type": "negative"}, [-1]),
    (L.FilterNumbers, {}, []),
    (L.FilterNumberRange, {"values": [1, 5, 10], "min_value": 1, "max_value": 5}, [1, 5]),
    (L.FilterNumberRange, {"values": [1, 5, 10], "min_value": 1, "max_value": 10, "inclusive": False}, [5]),
    (L.FilterRegex, {"values": ["a1", "bb", "c22"], "pattern": r"\d"}, ["a1", "c22"]),
    (L.FilterRegex, {"values": ["a1", "22"], "pattern": r"\d+", "full_match": True}, ["22"]),
    (L.FilterNone, {"values": [0, None, "", None, False]}, [0, "", False]),
    (L.FilterDictsByValue, {"values": PEOPLE, "key": "name", "criteria": "li"}, [PEOPLE[0]]),
    (L.FilterDictsByValue, {"values": PEOPLE, "key": "name", "filter_type": "starts_with", "criteria": "B"}, [PEOPLE[1]]),
    (L.FilterDictsByValue, {"values": PEOPLE, "key": "name", "filter_type": "ends_with", "criteria": "d"}, [PEOPLE[2]]),
    (L.FilterDictsByValue, {"values": PEOPLE, "key": "age", "filter_type": "equals", "criteria": "25"}, [PEOPLE[0]]),
    (L.FilterDictsByValue, {"values": [{"v": 1}, {"v": "1"}], "key": "v", "filter_type": "type_is", "criteria": "int"}, [{"v": 1}]),
    (L.FilterDictsByValue, {"values": PEOPLE, "key": "name", "filter_type": "length_greater", "criteria": "3"}, [PEOPLE[0]]),
    (L.FilterDictsByValue, {"values": PEOPLE, "key": "name", "filter_type": "length_less", "criteria": "4"}, PEOPLE[1:]),
    (L.FilterDictsByValue, {"values": [{"v": 5}], "key": "v", "filter_type": "exact_length", "criteria": "1"}, []),
    (L.FilterDictsByValue, {"values": PEOPLE, "key": "missing", "criteria": ""}, []),
    (L.FilterDictsByRange, {"values": PEOPLE, "key": "age", "min_value": 25, "max_value": 35}, PEOPLE[:2]),
    (L.FilterDictsByRange, {"values": PEOPLE, "key": "age", "min_value": 25, "max_value": 40, "inclusive": False}, [PEOPLE[1]]),
    (L.FilterDictsByRange, {"values": [{"age": "x"}, {}], "key": "age", "max_value": 100}, []),
    (L.FilterDictsByNumber, {"values": PEOPLE, "key": "age", "value": 30}, PEOPLE[1:]),
    (L.FilterDictsByNumber, {"values": PEOPLE, "key": "age", "filter_type": "less_than", "value": 30}, [PEOPLE[0]]),
    (L.FilterDictsByNumber, {"values": PEOPLE, "key": "age", "filter_type": "equal_to", "value": 35}, [PEOPLE[1]]),
    (L.FilterDictsByNumber, {"values": PEOPLE, "key": "age", "filter_type": "even"}, [PEOPLE[2]]),
    (L.FilterDictsByNumber, {"values": PEOPLE, "key": "age", "filter_type": "odd"}, PEOPLE[:2]),
    (L.FilterDictsByNumber, {"values": [{"n": -1}, {"n": 2}, {"n": "3"}, {}], "key": "n", "filter_type": "positive"}, [{"n": 2}]),
    (L.FilterDictsByNumber, {"values": [{"n": -1}, {"n": 2}], "key": "n", "filter_type": "negative"}, [{"n": -1}]),
    (L.FilterDictsRegex, {"values": PEOPLE, "key": "name", "pattern": "^[AB]"}, PEOPLE[:2]),
    (L.FilterDictsRegex, {"values": PEOPLE, "key": "age", "pattern": r"\d", "full_match": True}, []),
    (L.Transform, {"values": ["1", "2"], "transform_type": "to_int"}, [1, 2]),
    (L.Transform, {"values": ["1.5"], "transform_type": "to_float"}, [1.5]),
    (L.Transform, {"values": [1, None]}, ["1", "None"]),
    (L.Transform, {"values": ["aB"], "transform_type": "uppercase"}, ["AB"]),
    (L.Transform, {"values": ["aB"], "transform_type": "lowercase"}, ["ab"]),
    (L.Transform, {"values": [" a "], "transform_type": "strip"}, ["a"]),
    (L.MapField, {"values": PEOPLE, "field": "name"}, ["Alice", "Bob", "Cid"]),
    (L.MapField, {"values": [{"a": 1}, {}], "field": "a", "default": 0}, [1, 0]),
    (L.MapTemplate, {"values": PEOPLE[:2], "template": "{{ name }} ({{ age }})"}, ["Alice (25)", "Bob (35)"]),
    (L.MapTemplate, {"values": [], "template": "x"}, []),
    (L.MapTemplate, {"values": [{"a": 1}, 5, {"a": 0}], "template": "{{ 1 / a }}"}, ["1.0"]),
]


@pytest.mark.parametrize("cls, kwargs, expected", CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
async def test_list_nodes(cls, kwargs, expected, ctx):
    """Computes each list node's result as NodeTool does."""
    assert await cls(**kwargs).process(ctx) == expected


async def test_filter_dicts_keeps_native_values():
    """Returns the matching rows themselves: native ints, no added keys."""
    rows = [{"name": "Alice", "age": 25}, {"name": "Bob", "age": 35}, {"name": "Zed"}]
    out = await L.FilterDicts(values=rows, condition="age > 30").process(None)
    assert out == [{"name": "Bob", "age": 35}] and type(out[0]["age"]) is int


async def test_filter_dicts_missing_key_is_nan():
    """Treats a missing key as NaN: comparisons with it are false, != is true."""
    rows = [{"a": 1}, {"b": 2}]
    assert await L.FilterDicts(values=rows, condition="a >= 1").process(None) == [{"a": 1}]
    assert await L.FilterDicts(values=rows, condition="a != 1").process(None) == [{"b": 2}]


async def test_filter_dicts_backticks():
    """Reads backtick-quoted column names with spaces."""
    rows = [{"first name": "Ann", "n": 1}, {"first name": "Bo", "n": 2}]
    out = await L.FilterDicts(values=rows, condition="`first name` == 'Bo'").process(None)
    assert out == [rows[1]]


@pytest.mark.parametrize("kwargs", [
    {"values": PEOPLE, "condition": ""}, {"values": PEOPLE, "condition": "__import__('os')"},
    {"values": PEOPLE, "condition": "nosuchcolumn > 1"}, {"values": [1, 2], "condition": "a > 1"},
    {"values": PEOPLE, "condition": "name > 1"}, {"values": PEOPLE, "condition": "age >"},
])
async def test_filter_dicts_errors(kwargs):
    """Raises ValueError for an empty, forbidden, failing or invalid condition, or non-dict rows."""
    with pytest.raises(ValueError):
        await L.FilterDicts(**kwargs).process(None)


async def test_append_and_extend_do_not_change_input():
    """Returns a new list, leaving the input list unchanged."""
    values = [1]
    node = L.Append(values=values, value=2)
    node.values = values
    assert await node.process(None) == [1, 2] and values == [1]
    ext = L.Extend(values=[1], other_values=[2])
    assert await ext.process(None) == [1, 2]


async def test_generate_sequence_streams(ctx):
    """Streams range(start, stop, step), one item at a time, and stops on cancel."""
    assert await gen(L.GenerateSequence(start=0, stop=3)) == [{"output": 0}, {"output": 1}, {"output": 2}]
    assert await gen(L.GenerateSequence()) == []
    cancelled = Ctx()
    cancelled.cancel()
    assert await gen(L.GenerateSequence(stop=5), cancelled) == []
    with pytest.raises(ValueError):
        await gen(L.GenerateSequence(stop=5, step=0))


async def test_randomize_is_a_permutation():
    """Returns a shuffled copy with the same elements."""
    values = list(range(20))
    out = await L.Randomize(values=values).process(None)
    assert sorted(out) == values and out is not values


@pytest.mark.parametrize("node", [
    L.GetElement(values=[1], index=5), L.Sum(), L.Sum.model_construct(values=["a"]), L.Average(), L.Minimum(),
    L.Maximum(), L.Product(), L.ListRange(stop=10**9), L.ListRange(stop=5, step=0),
    L.Sort(values=[1, "a"]), L.FilterNumbers(values=[1], value=None),
    L.FilterDictsByNumber(values=[{"a": 1}], key="a"), L.FilterRegex(values=["a"], pattern="("),
    L.FilterStrings(values=["a"], filter_type="exact_length", criteria="x"),
    L.FilterDictsByValue(values=[{"a": "x"}], key="a", filter_type="length_less", criteria="x"),
    L.FilterDictsRegex(values=[{"a": "x"}], key="a", pattern="["),
    L.Transform(values=["x"], transform_type="to_int"),
])
async def test_list_errors(node):
    """Raises for out-of-range indices, empty aggregates, bad criteria and huge ranges."""
    with pytest.raises((ValueError, IndexError, TypeError)):
        await node.process(None)


async def test_list_input_type_errors():
    """Rejects values that are not lists of the expected kind."""
    with pytest.raises(ValueError):
        await L.FilterStrings.model_construct(values=[1], filter_type="contains", criteria="").process(None)
    with pytest.raises(ValueError):
        await L.FilterNumbers.model_construct(values=["1"], filter_type="even", value=None).process(None)
    with pytest.raises(ValueError):
        await L.FilterNumberRange.model_construct(values=["1"], min_value=0, max_value=1, inclusive=True).process(None)
    with pytest.raises(ValueError):
        await L.FilterRegex.model_construct(values=[1], pattern="x", full_match=False).process(None)
    with pytest.raises(ValueError):
        await L.Flatten.model_construct(values="abc", max_depth=-1).process(None)
    with pytest.raises(ValueError):
        await L.MapField.model_construct(values="abc", field="a", default=None).process(None)


async def test_map_field_on_objects():
    """Reads attributes of non-dict items, but never private ones."""
    class Item:
        def __init__(self):
            self.name = "n"

    out = await L.MapField(values=[Item(), {"name": "d"}], field="name").process(None)
    assert out == ["n", "d"]
    assert await L.MapField(values=[Item()], field="__class__", default="no").process(None) == ["no"]
