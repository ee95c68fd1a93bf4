"""nodetool.dictionary: dictionary nodes and the streaming dictionary filters."""

import pytest

from nodetool_gateway.engine.library import dictionary as D

from .conftest import gen

CASES = [
    (D.GetValue, {"dictionary": {"a": 1}, "key": "a"}, 1),
    (D.GetValue, {"dictionary": {"a": 1}, "key": "b", "default": "d"}, "d"),
    (D.GetValue, {"dictionary": {"a": 1}, "key": "b"}, ()),
    (D.GetValue, {"dictionary": {"a": None}, "key": "a", "default": 5}, None),
    (D.Update, {"dictionary": {"a": 1, "b": 2}, "new_pairs": {"b": 3, "c": 4}}, {"a": 1, "b": 3, "c": 4}),
    (D.Update, {}, {}),
    (D.Remove, {"dictionary": {"a": 1, "b": 2}, "key": "a"}, {"b": 2}),
    (D.Remove, {"dictionary": {"a": 1}, "key": "z"}, {"a": 1}),
    (D.ParseJSON, {"json_string": '{"a": [1, 2]}'}, {"a": [1, 2]}),
    (D.Zip, {"keys": ["a", "b", "c"], "values": [1, 2]}, {"a": 1, "b": 2}),
    (D.Zip, {}, {}),
    (D.Combine, {"dict_a": {"a": 1, "b": 1}, "dict_b": {"b": 2}}, {"a": 1, "b": 2}),
    (D.Filter, {"dictionary": {"a": 1, "b": 2, "c": 3}, "keys": ["c", "a", "z"]}, {"c": 3, "a": 1}),
    (D.Filter, {"dictionary": {"a": 1}}, {}),
    (D.ReduceDictionaries, {"dictionaries": [{"id": "x", "v": 1, "w": 0}, {"id": "y", "v": 2}], "key_field": "id"},
     {"x": {"v": 1, "w": 0}, "y": {"v": 2}}),
    (D.ReduceDictionaries, {"dictionaries": [{"id": "x", "v": 1}, {"id": "x", "v": 2}], "key_field": "id",
                            "value_field": "v"}, {"x": 1}),
    (D.ReduceDictionaries, {"dictionaries": [{"id": "x", "v": 1}, {"id": "x", "v": 2}], "key_field": "id",
                            "value_field": "v", "conflict_resolution": "last"}, {"x": 2}),
    (D.ReduceDictionaries, {}, {}),
    (D.MakeDictionary, {"dynamic_properties": {"b": 1, "a": "x"}}, {"b": 1, "a": "x"}),
    (D.MakeDictionary, {}, {}),
    (D.ArgMax, {"scores": {"cat": 0.2, "dog": 0.7, "eel": 0.1}}, "dog"),
]


@pytest.mark.parametrize("cls, kwargs, expected", CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
async def test_dictionary_nodes(cls, kwargs, expected, ctx):
    """Computes each dictionary node's result as NodeTool does."""
    assert await cls(**kwargs).process(ctx) == expected


async def test_make_dictionary_keeps_order_and_copies():
    """Returns a copy of the dynamic properties in their order."""
    props = {"z": 1, "a": 2}
    node = D.MakeDictionary(dynamic_properties=props)
    out = await node.process(None)
    assert list(out) == ["z", "a"] and out is not node.dynamic_properties
    assert D.MakeDictionary.is_dynamic


async def test_update_and_remove_do_not_change_input():
    """Returns a new dictionary, leaving the input unchanged."""
    node = D.Update(new_pairs={"b": 2})
    original = {"a": 1}
    node.dictionary = original
    assert await node.process(None) == {"a": 1, "b": 2} and original == {"a": 1}
    rem = D.Remove(key="a")
    rem.dictionary = original
    assert await rem.process(None) == {} and original == {"a": 1}


@pytest.mark.parametrize("node", [
    D.ParseJSON(json_string="[1, 2]"), D.ParseJSON(json_string="nope"), D.ArgMax(),
    D.ReduceDictionaries(dictionaries=[{"v": 1}], key_field="id"),
    D.ReduceDictionaries(dictionaries=[{"id": 1}], key_field="id", value_field="v"),
    D.ReduceDictionaries(dictionaries=[{"id": 1}, {"id": 1}], key_field="id", conflict_resolution="error"),
])
async def test_dictionary_errors(node):
    """Raises ValueError for non-object JSON, empty scores, missing fields and duplicates."""
    with pytest.raises(ValueError):
        await node.process(None)


ROW = {"name": "Alice", "age": 31, "tags": ["a", "b"]}


@pytest.mark.parametrize("key, kind, criteria, passes", [
    ("name", "contains", "lic", True), ("name", "contains", "z", False),
    ("name", "starts_with", "Al", True), ("name", "ends_with", "ce", True),
    ("age", "equals", "31", True), ("age", "type_is", "int", True), ("age", "type_is", "str", False),
    ("tags", "length_greater", "1", True), ("tags", "length_less", "2", False),
    ("tags", "exact_length", "2", True), ("age", "exact_length", "2", False),
    ("tags", "exact_length", "x", False), ("missing", "contains", "", False),
])
async def test_filter_dict_by_value(key, kind, criteria, passes):
    """Passes on a streamed dictionary only when its key's value meets the filter."""
    node = D.FilterDictByValue(value=ROW, key=key, filter_type=kind, criteria=criteria)
    assert await gen(node) == ([{"output": ROW}] if passes else [])


@pytest.mark.parametrize("key, lo, hi, inclusive, passes", [
    ("age", 30, 40, True, True), ("age", 31, 40, False, False), ("age", 0, 31, True, True),
    ("name", 0, 100, True, False), ("missing", 0, 100, True, False),
])
async def test_filter_dict_by_range(key, lo, hi, inclusive, passes):
    """Passes on a streamed dictionary only when its numeric key is in range."""
    node = D.FilterDictByRange(value=ROW, key=key, min_value=lo, max_value=hi, inclusive=inclusive)
    assert await gen(node) == ([{"output": ROW}] if passes else [])


@pytest.mark.parametrize("key, kind, compare, passes", [
    ("age", "greater_than", 30, True), ("age", "less_than", 30, False), ("age", "equal_to", 31, True),
    ("age", "odd", 0, True), ("age", "even", 0, False), ("age", "positive", 0, True),
    ("age", "negative", 0, False), ("name", "greater_than", 0, False), ("missing", "positive", 0, False),
])
async def test_filter_dict_by_number(key, kind, compare, passes):
    """Passes on a streamed dictionary only when its number meets the condition."""
    node = D.FilterDictByNumber(value=ROW, key=key, filter_type=kind, compare_value=compare)
    assert await gen(node) == ([{"output": ROW}] if passes else [])


@pytest.mark.parametrize("key, pattern, full, passes", [
    ("name", "^A", False, True), ("name", "lic", True, False), ("age", r"\d+", True, True),
    ("name", "(", False, False), ("missing", ".", False, False),
])
async def test_filter_dict_regex(key, pattern, full, passes):
    """Passes on a streamed dictionary only when its value matches the pattern."""
    node = D.FilterDictRegex(value=ROW, key=key, pattern=pattern, full_match=full)
    assert await gen(node) == ([{"output": ROW}] if passes else [])


@pytest.mark.parametrize("condition, passes", [
    ("age > 30", True), ("age > 40", False), ("name == 'Alice' and age < 40", True),
    ("", True), ("nosuch > 1", False), ("__import__('os')", False), ("age >", False),
])
async def test_filter_dict_by_query(condition, passes):
    """Passes on a streamed dictionary when the condition holds; a failing condition drops it."""
    node = D.FilterDictByQuery(value=ROW, condition=condition)
    assert await gen(node) == ([{"output": ROW}] if passes else [])


async def test_streaming_filters_skip_non_dicts():
    """Drops a streamed value that is not a dictionary."""
    for cls in (D.FilterDictByValue, D.FilterDictByRange, D.FilterDictByNumber, D.FilterDictRegex,
                D.FilterDictByQuery):
        node = cls.model_construct(value=5)
        assert await gen(node) == []
