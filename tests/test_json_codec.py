"""The node's JSON codec as the default install has it (the standard json module).

The test extra brings orjson in (through chromadb), which the codec prefers; these
tests load a second copy of the codec with orjson hidden, so the path a plain
``pip install nodetool-gateway`` runs is the one checked.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

import nodetool_gateway.protocols._json as installed


@pytest.fixture(scope="module")
def stdlib_codec():
    spec = importlib.util.spec_from_file_location("_json_default_install", installed.__file__)
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # type: ignore[assignment]  # import orjson now fails
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["orjson"]
        else:
            sys.modules["orjson"] = saved
    assert module.SPEED is False
    return module


@dataclasses.dataclass
class Point:
    x: int
    y: int


VALUES = [None, True, False, 0, -7, 10**30, 1.5, float("1e300"), "", "plain", 'quote " back \\',
          "é ü 中 😀", "\x00\x1f\n\t", [1, "a", None], {"k": {"n": [True, {}]}}, [], {}]


@pytest.mark.parametrize("value", VALUES)
def test_encodes_like_the_json_module(stdlib_codec, value):
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert stdlib_codec.dumps(value) == expected
    assert stdlib_codec.loads(stdlib_codec.dumps(value)) == value


def test_encodes_what_handlers_return(stdlib_codec):
    when = datetime(2026, 11, 28, 9, 30, tzinfo=timezone.utc)
    out = stdlib_codec.dumps({"p": Point(1, 2), "at": when, "day": date(2026, 1, 2),
                              "path": Path("/tmp/x"), "tags": ("a", "b")})
    assert json.loads(out) == {"p": {"x": 1, "y": 2}, "at": when.isoformat(),
                               "day": "2026-01-02", "path": "/tmp/x", "tags": ["a", "b"]}
    with pytest.raises(TypeError):
        stdlib_codec.dumps(object())
