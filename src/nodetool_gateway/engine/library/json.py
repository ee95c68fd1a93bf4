"""lib.json: JSON nodes, also under their older names ``nodetool.json.*``."""

import functools
import json
from typing import Any

from pydantic import Field, model_validator

from ..node import BaseNode
from . import _regex

NAMESPACE = "lib.json"

__all__ = ["ParseDict", "ParseList", "StringifyJSON", "BaseGetJSONPath", "GetJSONPathStr",
           "GetJSONPathInt", "GetJSONPathFloat", "GetJSONPathBool", "GetJSONPathList",
           "GetJSONPathDict", "ValidateJSON", "FilterJSON", "JSONTemplate", "schema_valid"]


def _old(name: str) -> tuple[str, ...]:
    return (f"nodetool.json.{name}",)


class ParseDict(BaseNode):
    """
    Parses a JSON object string into a dictionary (ValueError for another JSON type).
    json, parse, decode, dictionary
    """

    aliases = _old("ParseDict")

    json_string: str = Field(default="", description="JSON string to parse into a dictionary")

    async def process(self, context: Any) -> dict:
        result = json.loads(self.json_string)
        if not isinstance(result, dict):
            raise ValueError("JSON string must represent an object/dictionary")
        return result


class ParseList(BaseNode):
    """
    Parses a JSON array string into a list (ValueError for another JSON type).
    json, parse, decode, array, list
    """

    aliases = _old("ParseList")

    json_string: str = Field(default="", description="JSON string to parse into a list")

    async def process(self, context: Any) -> list:
        result = json.loads(self.json_string)
        if not isinstance(result, list):
            raise ValueError("JSON string must represent an array/list")
        return result


class StringifyJSON(BaseNode):
    """
    Serializes a value to JSON text (``json.dumps(data, indent=indent)``).
    json, stringify, encode
    """

    aliases = _old("StringifyJSON")

    data: Any = Field(default={}, description="Data to convert to JSON")
    indent: int = Field(default=2, description="Number of spaces for indentation")

    async def process(self, context: Any) -> str:
        return json.dumps(self.data, indent=self.indent)


class BaseGetJSONPath(BaseNode):
    """Extracts a value at a dot path ("a.b.0"): dictionary keys, list indices."""

    abstract = True

    data: Any = Field(default={}, description="JSON object to extract from")
    path: str = Field(default="", description="Path to the desired value (dot notation)")

    def _extract_value(self) -> Any:
        result = self.data
        try:
            for key in self.path.split("."):
                if isinstance(result, dict):
                    result = result.get(key)
                elif isinstance(result, list) and key.isdigit():
                    result = result[int(key)] if int(key) < len(result) else None
                else:
                    return None
            return result
        except (KeyError, IndexError, TypeError):
            return None


class GetJSONPathStr(BaseGetJSONPath):
    """
    The value at a dot path as a string (``default`` when not found or None).
    json, path, extract, string
    """

    aliases = _old("GetJSONPathStr")

    default: str = Field(default="", description="Default value to return if path is not found")

    async def process(self, context: Any) -> str:
        result = self._extract_value()
        return str(result) if result is not None else self.default


class GetJSONPathInt(BaseGetJSONPath):
    """
    The value at a dot path as an integer (``default`` when not found or None).
    json, path, extract, number
    """

    aliases = _old("GetJSONPathInt")

    default: int = Field(default=0, description="Default value to return if path is not found")

    async def process(self, context: Any) -> int:
        result = self._extract_value()
        return int(result) if result is not None else self.default


class GetJSONPathFloat(BaseGetJSONPath):
    """
    The value at a dot path as a float (``default`` when not found or None).
    json, path, extract, number
    """

    aliases = _old("GetJSONPathFloat")

    default: float = Field(default=0.0, description="Default value to return if path is not found")

    async def process(self, context: Any) -> float:
        result = self._extract_value()
        return float(result) if result is not None else self.default


class GetJSONPathBool(BaseGetJSONPath):
    """
    The value at a dot path as a boolean (``default`` when not found or None).
    json, path, extract, boolean
    """

    aliases = _old("GetJSONPathBool")

    default: bool = Field(default=False, description="Default value to return if path is not found")

    async def process(self, context: Any) -> bool:
        result = self._extract_value()
        return bool(result) if result is not None else self.default


class GetJSONPathList(BaseGetJSONPath):
    """
    The value at a dot path as a list (``default`` when not found or None).
    json, path, extract, array
    """

    aliases = _old("GetJSONPathList")

    default: list = Field(default=[], description="Default value to return if path is not found")

    async def process(self, context: Any) -> list:
        result = self._extract_value()
        return list(result) if result is not None else self.default


class GetJSONPathDict(BaseGetJSONPath):
    """
    The value at a dot path as a dictionary (``default`` when not found or None).
    json, path, extract, object
    """

    aliases = _old("GetJSONPathDict")

    default: dict = Field(default={}, description="Default value to return if path is not found")

    async def process(self, context: Any) -> dict:
        result = self._extract_value()
        return dict(result) if result is not None else self.default


class ValidateJSON(BaseNode):
    """
    Whether ``data`` conforms to the JSON Schema ``json_schema`` (the older
    nodetool.json.ValidateJSON called it ``schema``; both are accepted).
    json, validate, schema
    """

    aliases = _old("ValidateJSON")

    data: Any = Field(default={}, description="JSON data to validate")
    json_schema: dict = Field(default={}, description="JSON schema for validation")

    @model_validator(mode="before")
    @classmethod
    def _old_schema_name(cls, values: Any) -> Any:
        if isinstance(values, dict) and "schema" in values and "json_schema" not in values:
            values = dict(values)
            values["json_schema"] = values.pop("schema")
        return values

    async def process(self, context: Any) -> bool:
        return schema_valid(self.data, self.json_schema)


def schema_valid(data: Any, schema: dict) -> bool:
    """JSON Schema validation with jsonschema when installed, else a built-in subset.

    jsonschema matches ``pattern``, ``patternProperties`` and the property names
    ``additionalProperties`` weighs with Python's ``re``; here those keywords match
    through ``_regex`` (RE2), as for every other pattern a workflow supplies.
    """
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema is present where tests run
        return _mini_validate(data, schema)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)  # as jsonschema.validate does
    return _with_linear_patterns(cls)(schema).is_valid(data)


@functools.cache
def _with_linear_patterns(cls: Any) -> Any:
    from jsonschema import ValidationError, validators

    def pattern(validator, patrn, instance, schema):
        if validator.is_type(instance, "string") and not _regex.search(patrn, instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    def pattern_properties(validator, pattern_properties, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        for patrn, subschema in pattern_properties.items():
            for key, value in instance.items():
                if _regex.search(patrn, key):
                    yield from validator.descend(value, subschema, path=key, schema_path=patrn)

    def additional_properties(validator, extra_schema, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        properties = schema.get("properties", {})
        patterns = "|".join(schema.get("patternProperties", {}))
        extras = [key for key in instance if key not in properties
                  and not (patterns and _regex.search(patterns, key))]
        if validator.is_type(extra_schema, "object"):
            for key in extras:
                yield from validator.descend(instance[key], extra_schema, path=key)
        elif not extra_schema and extras:
            yield ValidationError(f"additional properties are not allowed: {sorted(map(repr, extras))}")

    return validators.extend(cls, {"pattern": pattern, "patternProperties": pattern_properties,
                                   "additionalProperties": additional_properties})


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or \
            isinstance(value, float) and value.is_integer()
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(name, object))


def _mini_validate(value: Any, schema: Any) -> bool:
    """The common keywords of JSON Schema (type, enum, const, properties, required,
    additionalProperties, items, min/max..., pattern, allOf/anyOf/oneOf/not)."""
    if schema is True or schema == {}:
        return True
    if schema is False or not isinstance(schema, dict):
        return False
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_is_type(value, n) for n in names):
            return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "const" in schema and value != schema["const"]:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, ok in (("minimum", lambda b: value >= b), ("maximum", lambda b: value <= b),
                        ("exclusiveMinimum", lambda b: value > b),
                        ("exclusiveMaximum", lambda b: value < b)):
            if key in schema and not ok(schema[key]):
                return False
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            return False
        if "pattern" in schema and not _regex.search(schema["pattern"], value):
            return False
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            return False
        items = schema.get("items")
        if isinstance(items, dict) and not all(_mini_validate(v, items) for v in value):
            return False
    if isinstance(value, dict):
        if any(k not in value for k in schema.get("required", [])):
            return False
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                if not _mini_validate(v, props[k]):
                    return False
            elif "additionalProperties" in schema and not _mini_validate(v, schema["additionalProperties"]):
                return False
    if "allOf" in schema and not all(_mini_validate(value, s) for s in schema["allOf"]):
        return False
    if "anyOf" in schema and not any(_mini_validate(value, s) for s in schema["anyOf"]):
        return False
    if "oneOf" in schema and sum(_mini_validate(value, s) for s in schema["oneOf"]) != 1:
        return False
    if "not" in schema and _mini_validate(value, schema["not"]):
        return False
    return True


class FilterJSON(BaseNode):
    """
    The objects of ``array`` whose ``key`` equals ``value``.
    json, filter, array
    """

    aliases = _old("FilterJSON")

    array: list[dict] = Field(default=[], description="Array of JSON objects to filter")
    key: str = Field(default="", description="Key to filter on")
    value: Any = Field(default={}, description="Value to match")

    async def process(self, context: Any) -> list[dict]:
        return [item for item in self.array if item.get(self.key) == self.value]


class JSONTemplate(BaseNode):
    """
    Replaces ``$name`` placeholders in a JSON template with ``str(values[name])`` and
    parses the result, which must be an object: '{"name": "$user", "age": $age}'.
    json, template, substitute, variables
    """

    aliases = _old("JSONTemplate")
    node_title = "JSON Template"

    template: str = Field(default="", description="JSON template string with $variable placeholders")
    values: dict[str, Any] = Field(default={}, description="Values to substitute into the template")

    async def process(self, context: Any) -> dict:
        result = self.template
        for key, value in self.values.items():
            result = result.replace("$" + key, str(value))
        try:
            parsed = json.loads(result)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Resulting JSON is invalid: {exc} \n {result}") from None
        if not isinstance(parsed, dict):
            raise ValueError(f"Resulting JSON must be a dictionary: {parsed}")
        return parsed
