"""End to end: the real NodeTool examples and the bundled workflows, through the engine."""

import json
from pathlib import Path

import pytest

from nodetool_gateway.engine import default_registry, run_workflow

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "data" / "nodetool-examples"
BUNDLED = Path(__file__).resolve().parents[2] / "src" / "nodetool_gateway" / "bundled_workflows"
EXPECTED = json.loads((EXAMPLES / "expected.json").read_text())


async def run(path: Path, params: dict | None = None):
    workflow = json.loads(path.read_text(encoding="utf-8"))
    return await run_workflow(workflow, params=params or {}, registry=default_registry())


async def run_shown(path: Path, params: dict | None = None):
    """The run, and its outputs together with what its Preview nodes showed, by name, each
    as a list of the values received in order (NodeTool sends previews as
    ``preview_update`` events, not as job outputs)."""
    workflow = json.loads(path.read_text(encoding="utf-8"))
    names = {n["id"]: (n.get("data") or {}).get("name") or n["id"]
             for n in workflow["graph"]["nodes"]}
    previews: dict = {}

    def seen(event):
        if event["type"] == "preview_update":
            previews.setdefault(names[event["node_id"]], []).append(event["value"])

    result = await run_workflow(workflow, params=params or {}, registry=default_registry(),
                                on_event=seen)
    shown = dict(result.outputs)
    shown.update(previews)
    return result, shown


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_nodetool_example(name):
    """Runs a real NodeTool example and produces exactly its expected outputs."""
    case = EXPECTED[name]
    result, shown = await run_shown(EXAMPLES / name, case["inputs"])
    assert result.status == "completed", result.error
    # expected.json stores one value per name ({name: value}); the run lists every value
    # an output (or Preview) received ({name: [values]}), so each expected value is wrapped.
    assert shown == {name: [value] for name, value in case["outputs"].items()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_copies_are_exact(name):
    """Ships the examples in bundled_workflows byte for byte."""
    assert (BUNDLED / name).read_bytes() == (EXAMPLES / name).read_bytes()


async def test_conditional_logic_other_routes():
    """Routes a high and a low value through the other branches of Conditional Logic Engine."""
    high = await run(EXAMPLES / "Conditional Logic Engine.json", {"value": 150})
    assert high.status == "completed", high.error
    [text] = high.outputs["decision_result"]
    assert "- Greater than 100? True" in text and "EXTREME_VALUE" in text
    assert "HIGH VALUE: 150 is greater than 100" in text
    low = await run(EXAMPLES / "Conditional Logic Engine.json", {"value": 10})
    [low_text] = low.outputs["decision_result"]
    assert "LOW VALUE: 10 is less than 50" in low_text


async def test_filter_json_data_other_input():
    """Filters a different JSON array in Filter JSON Data."""
    rows = json.dumps([{"name": "A", "age": 31}, {"name": "B", "age": 30}, {"name": "C", "age": 50}])
    result, shown = await run_shown(EXAMPLES / "Filter JSON Data.json", {"json_string": rows})
    assert result.status == "completed", result.error
    assert [json.loads(v) for v in shown["Filtered JSON"]] == [[{"name": "A", "age": 31}, {"name": "C", "age": 50}]]


@pytest.mark.parametrize("params, expected", [
    ({}, {"lengths": [[3, 5, 5, 3, 5, 4, 3, 4, 3]], "count": [9], "longest": [5]}),
    ({"text": "hello big world"}, {"lengths": [[5, 3, 5]], "count": [3], "longest": [5]}),
])
async def test_word_stats(params, expected):
    """Streams words through ForEach -> Length -> Collect and reports lengths, count, longest."""
    result = await run(BUNDLED / "Word Stats.json", params)
    assert result.status == "completed", result.error
    assert result.outputs == expected


@pytest.mark.parametrize("params, expected", [
    ({}, {"fahrenheit": [68.0], "kelvin": [293.15], "summary": ["20 °C = 68.0 °F = 293.15 K"]}),
    ({"celsius": 100}, {"fahrenheit": [212.0], "kelvin": [373.15], "summary": ["100 °C = 212.0 °F = 373.15 K"]}),
])
async def test_temperature_table(params, expected):
    """Converts Celsius with math nodes and formats the summary with FormatText."""
    result = await run(BUNDLED / "Temperature Table.json", params)
    assert result.status == "completed", result.error
    assert result.outputs == expected


def test_bundled_readme_lists_every_workflow():
    """Documents every bundled workflow in its README."""
    readme = (BUNDLED / "README.md").read_text(encoding="utf-8")
    for path in BUNDLED.glob("*.json"):
        assert f"`{path.name}`" in readme
