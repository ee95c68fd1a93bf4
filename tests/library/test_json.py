"""lib.json (and its older nodetool.json names)."""

import json

import pytest

from nodetool_gateway.engine.library import json as J
from nodetool_gateway.engine.library.json import _mini_validate, schema_valid

DATA = {"user": {"name": "Ada", "age": "36", "tags": ["x", "y"], "admin": 1, "meta": {"k": 1}},
        "list": [10, 20, 30]}

CASES = [
    (J.ParseDict, {"json_string": '{"a": 1}'}, {"a": 1}),
    (J.ParseList, {"json_string": "[1, 2]"}, [1, 2]),
    (J.StringifyJSON, {"data": {"a": [1]}}, '{\n  "a": [\n    1\n  ]\n}'),
    (J.StringifyJSON, {}, "{}"),
    (J.StringifyJSON, {"data": [1], "indent": 0}, "[\n1\n]"),
    (J.StringifyJSON, {"data": "é"}, '"\\u00e9"'),
    (J.GetJSONPathStr, {"data": DATA, "path": "user.name"}, "Ada"),
    (J.GetJSONPathStr, {"data": DATA, "path": "list.1"}, "20"),
    (J.GetJSONPathStr, {"data": DATA, "path": "user.nope", "default": "d"}, "d"),
    (J.GetJSONPathStr, {"data": DATA, "path": "list.9"}, ""),
    (J.GetJSONPathStr, {"data": DATA, "path": "list.x"}, ""),
    (J.GetJSONPathStr, {}, ""),
    (J.GetJSONPathInt, {"data": DATA, "path": "user.age"}, 36),
    (J.GetJSONPathInt, {"data": DATA, "path": "nope"}, 0),
    (J.GetJSONPathFloat, {"data": DATA, "path": "list.0"}, 10.0),
    (J.GetJSONPathFloat, {"data": DATA, "path": "nope", "default": 1.5}, 1.5),
    (J.GetJSONPathBool, {"data": DATA, "path": "user.admin"}, True),
    (J.GetJSONPathBool, {"data": DATA, "path": "nope"}, False),
    (J.GetJSONPathList, {"data": DATA, "path": "user.tags"}, ["x", "y"]),
    (J.GetJSONPathList, {"data": DATA, "path": "nope", "default": [0]}, [0]),
    (J.GetJSONPathDict, {"data": DATA, "path": "user.meta"}, {"k": 1}),
    (J.GetJSONPathDict, {"data": DATA, "path": "nope"}, {}),
    (J.ValidateJSON, {"data": {"a": 1}, "json_schema": {"type": "object", "required": ["a"]}}, True),
    (J.ValidateJSON, {"data": {"b": 1}, "json_schema": {"type": "object", "required": ["a"]}}, False),
    (J.ValidateJSON, {}, True),
    (J.FilterJSON, {"array": [{"k": 1}, {"k": 2}, {}], "key": "k", "value": 2}, [{"k": 2}]),
    (J.FilterJSON, {"array": [{"k": {}}, {"k": 1}], "key": "k"}, [{"k": {}}]),
    (J.JSONTemplate, {"template": '{"name": "$user", "age": $age}', "values": {"user": "Ann", "age": 30}},
     {"name": "Ann", "age": 30}),
]


@pytest.mark.parametrize("cls, kwargs, expected", CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
async def test_json_nodes(cls, kwargs, expected, ctx):
    """Computes each JSON node's result as NodeTool does."""
    assert await cls(**kwargs).process(ctx) == expected


def test_old_names_are_aliases():
    """Registers every lib.json node under its older nodetool.json name too."""
    for cls in (J.ParseDict, J.ParseList, J.StringifyJSON, J.GetJSONPathStr, J.GetJSONPathInt,
                J.GetJSONPathFloat, J.GetJSONPathBool, J.GetJSONPathList, J.GetJSONPathDict,
                J.ValidateJSON, J.FilterJSON, J.JSONTemplate):
        assert cls.node_type.startswith("lib.json.")
        assert cls.aliases == ("nodetool.json." + cls.__name__,)


async def test_validate_json_old_schema_property():
    """Accepts the older property name ``schema`` for the JSON Schema."""
    node = J.ValidateJSON.model_validate({"data": 5, "schema": {"type": "string"}})
    assert node.json_schema == {"type": "string"}
    assert await node.process(None) is False


@pytest.mark.parametrize("node", [
    J.ParseDict(json_string="[1]"), J.ParseList(json_string="{}"), J.ParseList(json_string="x"),
    J.JSONTemplate(template="{bad"), J.JSONTemplate(template="[1]"),
    J.GetJSONPathInt(data={"a": "x"}, path="a"),
])
async def test_json_errors(node):
    """Raises ValueError for the wrong JSON type, invalid templates and bad conversions."""
    with pytest.raises(ValueError):
        await node.process(None)


async def test_stringify_non_json_raises():
    """Raises TypeError for a value JSON cannot represent."""
    with pytest.raises(TypeError):
        await J.StringifyJSON(data={1, 2}).process(None)


def test_example_round_trip():
    """Parses and re-serializes the Filter JSON Data example's text as NodeTool does."""
    assert json.dumps([{"name": "Bob", "age": 35}], indent=2) == '[\n  {\n    "name": "Bob",\n    "age": 35\n  }\n]'


@pytest.mark.parametrize("value, schema, ok", [
    ({"a": 1}, {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}, True),
    ({"a": "x"}, {"type": "object", "properties": {"a": {"type": "integer"}}}, False),
    ({"a": 1, "b": 2}, {"type": "object", "properties": {"a": {}}, "additionalProperties": False}, False),
    ([1, 2], {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}, True),
    ([1, "a"], {"type": "array", "items": {"type": "number"}}, False),
    ("abc", {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^a"}, True),
    ("a", {"type": "string", "minLength": 2}, False),
    (5, {"type": "integer", "minimum": 1, "maximum": 5}, True), (5, {"exclusiveMaximum": 5}, False),
    (True, {"type": "integer"}, False), (1.0, {"type": "integer"}, True), (None, {"type": "null"}, True),
    ("x", {"enum": ["x", "y"]}, True), ("z", {"const": "x"}, False),
    (3, {"anyOf": [{"type": "string"}, {"type": "integer"}]}, True),
    (3, {"allOf": [{"type": "integer"}, {"minimum": 4}]}, False),
    (3, {"oneOf": [{"type": "integer"}, {"type": "number"}]}, False),
    (3, {"not": {"type": "string"}}, True), (3, {"type": ["string", "null"]}, False),
    (3, True, True), (3, False, False),
])
def test_builtin_schema_subset_matches_jsonschema(value, schema, ok):
    """Validates the common JSON Schema keywords like jsonschema does (the fallback)."""
    assert _mini_validate(value, schema) is ok
    if isinstance(schema, dict):
        assert schema_valid(value, schema) is ok
