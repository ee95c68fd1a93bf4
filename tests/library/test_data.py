"""nodetool.data: tables on pandas, as NodeTool computes them, with its DataframeRef on the wire."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import TIME, node_config, serving

from nodetool_gateway.engine import default_registry, run_workflow
from nodetool_gateway.engine.library import data as D

from .conftest import gen

PEOPLE_CSV = """name,age,dept,salary
Ann,31,Sales,52000.5
Bo,25,IT,41000
Cid,40,Sales,61000
Dee,35,HR,
"""


def frame(columns: dict[str, str], data: list[list[Any]]) -> dict[str, Any]:
    """NodeTool's inline DataframeRef with these columns (name -> data_type) and rows."""
    return {"type": "dataframe", "uri": "", "asset_id": None, "data": data, "metadata": None,
            "columns": [{"name": n, "data_type": t, "description": ""} for n, t in columns.items()]}


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE_CSV)
    return path


@pytest.fixture
async def people(people_csv) -> dict[str, Any]:
    return await D.ImportCSV(csv_data=people_csv.read_text()).process(None)


NAN = float("nan")
PEOPLE = frame({"name": "object", "age": "int", "dept": "object", "salary": "float"},
               [["Ann", 31, "Sales", 52000.5], ["Bo", 25, "IT", 41000.0],
                ["Cid", 40, "Sales", 61000.0], ["Dee", 35, "HR", NAN]])


async def test_import_csv_file_gives_nodetools_dataframe_ref(people):
    """Reads a CSV file's text into NodeTool's DataframeRef: dtype names, rows, NaN for blanks."""
    assert same(people, PEOPLE)
    assert math.isnan(people["data"][3][3])


async def test_numbers_share_the_frames_common_dtype(tmp_path):
    """Upcasts ints to floats in the rows of a frame of ints and floats, as values.tolist() does."""
    path = tmp_path / "n.csv"
    path.write_text("a,b\n1,2.5\n3,4\n")
    ref = await D.ImportCSV(csv_data=path.read_text()).process(None)
    assert ref["columns"] == frame({"a": "int", "b": "float"}, [])["columns"]
    assert ref["data"] == [[1.0, 2.5], [3.0, 4.0]] and type(ref["data"][0][0]) is float
    rows = [r async for r in D.ForEachRow(dataframe=ref).gen_process(None)]
    assert rows == [{"row": {"a": 1.0, "b": 2.5}, "index": 0}, {"row": {"a": 3.0, "b": 4.0}, "index": 1}]


async def test_dataframe_ref_round_trips(people):
    """Converts a DataframeRef to pandas and back unchanged, and a DataFrame to a ref and back."""
    assert same(D.from_pandas(D.to_pandas(people)), people)
    df = pd.DataFrame({"s": ["x", "y"], "i": [1, 2], "f": [0.5, NAN]})
    back = D.to_pandas(D.from_pandas(df))
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert list(back.dtypes.map(str))[1:] == ["int64", "float64"]


async def test_dataframe_ref_edge_shapes():
    """Reads an empty ref as an empty table, the newer rows shape, and refuses a stored asset."""
    assert D.to_pandas(D.empty_dataframe()).empty
    assert D.to_pandas({"type": "dataframe", "rows": [{"a": 1}]}).to_dict("records") == [{"a": 1}]
    with pytest.raises(ValueError, match="inline"):
        D.to_pandas({"type": "dataframe", "uri": "asset://x.csv"})
    stamped = D.from_pandas(pd.DataFrame({"t": pd.to_datetime(["2024-01-02", None])}))
    assert stamped["data"] == [["2024-01-02T00:00:00"], [None]]
    assert stamped["columns"][0]["data_type"] == "datetime"


def rows_of(ref: dict[str, Any]) -> list[list[Any]]:
    return ref["data"]


CASES = [
    (D.Filter, {"condition": "age > 30"}, [["Ann", 31, "Sales", 52000.5], ["Cid", 40, "Sales", 61000.0],
                                           ["Dee", 35, "HR", NAN]]),
    (D.Filter, {"condition": "age > 30 and salary < 60000"}, [["Ann", 31, "Sales", 52000.5]]),
    (D.Filter, {"condition": "dept in ['IT', 'HR'] | (name == 'Ann')"},
     [["Ann", 31, "Sales", 52000.5], ["Bo", 25, "IT", 41000.0], ["Dee", 35, "HR", NAN]]),
    (D.Filter, {"condition": "30 <= age <= 35 and not (dept == 'HR')"}, [["Ann", 31, "Sales", 52000.5]]),
    (D.Filter, {"condition": "salary > 0"}, [["Ann", 31, "Sales", 52000.5], ["Bo", 25, "IT", 41000.0],
                                             ["Cid", 40, "Sales", 61000.0]]),
    (D.FindRow, {"condition": "dept == 'Sales'"}, [["Ann", 31, "Sales", 52000.5]]),
    (D.FindRow, {"condition": "age > 99"}, []),
    (D.Slice, {"start_index": 1, "end_index": 3}, [["Bo", 25, "IT", 41000.0], ["Cid", 40, "Sales", 61000.0]]),
    (D.Slice, {"start_index": 2}, [["Cid", 40, "Sales", 61000.0], ["Dee", 35, "HR", NAN]]),
    (D.SortByColumn, {"column": "age"}, [["Bo", 25, "IT", 41000.0], ["Ann", 31, "Sales", 52000.5],
                                         ["Dee", 35, "HR", NAN], ["Cid", 40, "Sales", 61000.0]]),
    (D.DropNA, {}, [["Ann", 31, "Sales", 52000.5], ["Bo", 25, "IT", 41000.0], ["Cid", 40, "Sales", 61000.0]]),
    (D.SelectColumn, {"columns": "name,age"}, [["Ann", 31], ["Bo", 25], ["Cid", 40], ["Dee", 35]]),
    (D.FillNA, {}, [["Ann", 31, "Sales", 52000.5], ["Bo", 25, "IT", 41000.0], ["Cid", 40, "Sales", 61000.0],
                    ["Dee", 35, "HR", 0.0]]),
    (D.FillNA, {"method": "mean", "columns": "salary"},
     [["Ann", 31, "Sales", 52000.5], ["Bo", 25, "IT", 41000.0], ["Cid", 40, "Sales", 61000.0],
      ["Dee", 35, "HR", 51333.5]]),
    (D.FillNA, {"method": "forward"}, [["Ann", 31, "Sales", 52000.5], ["Bo", 25, "IT", 41000.0],
                                       ["Cid", 40, "Sales", 61000.0], ["Dee", 35, "HR", 61000.0]]),
    (D.Aggregate, {"columns": "dept", "aggregation": "max"},
     [["HR", "Dee", 35, NAN], ["IT", "Bo", 25, 41000.0], ["Sales", "Cid", 40, 61000.0]]),
    (D.Rename, {"rename_map": "name:who, age : years"}, [["Ann", 31, "Sales", 52000.5], ["Bo", 25, "IT", 41000.0],
                                                         ["Cid", 40, "Sales", 61000.0], ["Dee", 35, "HR", NAN]]),
]


@pytest.mark.parametrize("cls, kwargs, expected", CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
async def test_dataframe_nodes(cls, kwargs, expected, people):
    """Computes each table node's rows as NodeTool does with pandas."""
    field = "df" if "df" in cls.properties() else "dataframe"
    out = await cls(**{field: people, **kwargs}).process(None)
    assert out["type"] == "dataframe"
    assert same(rows_of(out), expected)


async def test_column_names_and_types_follow_the_operation(people):
    """Names renamed, selected and aggregated columns as pandas leaves them."""
    renamed = await D.Rename(dataframe=people, rename_map="name:who, age : years").process(None)
    assert [c["name"] for c in renamed["columns"]] == ["who", "years", "dept", "salary"]
    counted = await D.Aggregate(dataframe=people, columns="dept", aggregation="count").process(None)
    assert counted["data"] == [["HR", 1, 1, 0], ["IT", 1, 1, 1], ["Sales", 2, 2, 2]]
    assert [c["data_type"] for c in counted["columns"]] == ["object", "int", "int", "int"]
    picked = await D.SelectColumn(dataframe=people, columns="salary").process(None)
    assert picked["columns"] == frame({"salary": "float"}, [])["columns"]


async def test_conversions(people):
    """Converts between tables, lists of dicts, JSON and columns."""
    rows = await D.ToList(dataframe=people).process(None)
    assert rows[0] == {"name": "Ann", "age": 31, "dept": "Sales", "salary": 52000.5}
    assert type(rows[1]["age"]) is int and math.isnan(rows[3]["salary"])
    assert await D.ExtractColumn(dataframe=people, column_name="name").process(None) == ["Ann", "Bo", "Cid", "Dee"]
    listed = await D.FromList(values=[{"a": 1, "b": {"value": "x"}}, {"a": 2, "b": "y", "c": [1]}]).process(None)
    assert same(listed, frame({"a": "int", "b": "object", "c": "object"}, [[1, "x", NAN], [2, "y", "[1]"]]))
    with pytest.raises(ValueError, match="List must contain dicts"):
        await D.FromList(values=[1]).process(None)
    parsed = await D.JSONToDataframe(text='[{"k": "a", "v": 1}, {"k": "b", "v": 2.5}]').process(None)
    assert parsed == frame({"k": "object", "v": "float"}, [["a", 1.0], ["b", 2.5]])
    assert D.JSONToDataframe.node_title == "Convert JSON to DataFrame"
    added = await D.AddColumn(dataframe=parsed, column_name="n", values=[7, 8]).process(None)
    assert added["data"] == [["a", 1.0, 7], ["b", 2.5, 8]]


async def test_combining_tables():
    """Merges side by side, appends matching columns, joins on a column, and pivots."""
    a = frame({"id": "int", "x": "object"}, [[1, "p"], [2, "q"]])
    b = frame({"id": "int", "x": "object"}, [[2, "r"], [3, "s"]])
    c = frame({"y": "int"}, [[9], [8]])
    merged = await D.Merge(dataframe_a=a, dataframe_b=c).process(None)
    assert merged["data"] == [[1, "p", 9], [2, "q", 8]]
    appended = await D.Append(dataframe_a=a, dataframe_b=b).process(None)
    assert appended["data"] == [[1, "p"], [2, "q"], [2, "r"], [3, "s"]]
    assert (await D.Append(dataframe_a=D.empty_dataframe(), dataframe_b=b).process(None))["data"] == b["data"]
    with pytest.raises(ValueError, match="do not match"):
        await D.Append(dataframe_a=a, dataframe_b=c).process(None)
    joined = await D.Join(dataframe_a=a, dataframe_b=b, join_on="id").process(None)
    assert joined == frame({"id": "int", "x_x": "object", "x_y": "object"}, [[2, "q", "r"]])
    with pytest.raises(ValueError, match="do not match"):
        await D.Join(dataframe_a=a, dataframe_b=c, join_on="id").process(None)
    deduped = await D.DropDuplicates(df=frame({"v": "int"}, [[1], [1], [2]])).process(None)
    assert deduped["data"] == [[1], [2]]
    long = frame({"d": "object", "k": "object", "v": "int"}, [["x", "p", 1], ["x", "q", 2], ["y", "p", 3]])
    pivot = await D.Pivot(dataframe=long, index="d", columns="k", values="v").process(None)
    assert same(pivot, frame({"d": "object", "p": "float", "q": "float"}, [["x", 1.0, 2.0], ["y", 3.0, NAN]]))


async def test_row_streams(people):
    """Streams each row with its index: RowIterator on "dict", ForEachRow on "row"."""
    rows = await gen(D.RowIterator(dataframe=people))
    assert rows[1] == {"dict": {"name": "Bo", "age": 25, "dept": "IT", "salary": 41000.0}, "index": 1}
    each = await gen(D.ForEachRow(dataframe=people))
    assert [r["index"] for r in each] == [0, 1, 2, 3] and each[0]["row"]["name"] == "Ann"
    assert await gen(D.FilterNone(value=None)) == [] and await gen(D.FilterNone(value=0)) == [{"output": 0}]
    schema = {"type": "record_type", "columns": [{"name": "a", "data_type": "int", "description": ""}]}
    assert await D.Schema(columns=schema).process(None) == schema


@pytest.mark.parametrize("node", [
    D.Filter(condition=""), D.Filter(condition="age.__class__"),
    D.Filter(condition="__import__('os').system('true')"), D.FindRow(condition="nope > 1"),
    D.Aggregate(columns="dept", aggregation="mode"), D.Pivot(index="a", aggfunc="median"),
    D.FillNA(method="sideways"), D.ImportCSV(csv_data=""),
])
async def test_refusals(node, people):
    """Refuses empty or unsafe conditions, unknown columns and unknown methods."""
    for field in ("df", "dataframe"):
        if field in type(node).properties():
            setattr(node, field, people)
    with pytest.raises(ValueError):
        await node.process(None)


def chain(csv: str) -> dict[str, Any]:
    """ImportCSV -> Filter(age > 30) -> SortByColumn(salary) -> Output "table", and ExtractColumn -> "names"."""
    return {"nodes": [
        {"id": "csv", "type": "nodetool.input.StringInput", "data": {"name": "csv", "value": csv}},
        {"id": "imp", "type": "nodetool.data.ImportCSV", "data": {}},
        {"id": "flt", "type": "nodetool.data.Filter", "data": {"condition": "age > 30"}},
        {"id": "srt", "type": "nodetool.data.SortByColumn", "data": {"column": "salary"}},
        {"id": "col", "type": "nodetool.data.ExtractColumn", "data": {"column_name": "name"}},
        {"id": "o1", "type": "nodetool.output.Output", "data": {"name": "table"}},
        {"id": "o2", "type": "nodetool.output.Output", "data": {"name": "names"}}],
        "edges": [
        {"source": "csv", "sourceHandle": "output", "target": "imp", "targetHandle": "csv_data"},
        {"source": "imp", "sourceHandle": "output", "target": "flt", "targetHandle": "df"},
        {"source": "flt", "sourceHandle": "output", "target": "srt", "targetHandle": "df"},
        {"source": "srt", "sourceHandle": "output", "target": "o1", "targetHandle": "value"},
        {"source": "srt", "sourceHandle": "output", "target": "col", "targetHandle": "dataframe"},
        {"source": "col", "sourceHandle": "output", "target": "o2", "targetHandle": "value"}]}


SORTED = [["Ann", 31, "Sales", 52000.5], ["Cid", 40, "Sales", 61000.0], ["Dee", 35, "HR", NAN]]


async def test_csv_file_through_the_engine(people_csv):
    """Runs a CSV file's table through ImportCSV, Filter and SortByColumn in the engine."""
    result = await run_workflow({"graph": chain(people_csv.read_text())}, registry=default_registry())
    assert result.status == "completed", result.error
    [table] = result.outputs["table"]  # outputs list every value an output received: here one
    assert same(table["data"], SORTED)  # NaN sorts last
    assert result.outputs["names"] == [["Ann", "Cid", "Dee"]]


async def test_csv_file_through_a_real_node(people_csv, tmp_path):
    """A node's run_workflow runs the table graph in its worker process and answers the wire shape."""
    cfg = node_config("ws://127.0.0.1:1", storage={"path": str(tmp_path / "storage")})
    async with serving(cfg) as (op, _client):
        answer = await op.call("run_workflow", {"graph": chain(people_csv.read_text())}, timeout=60 * TIME)
    assert answer["status"] == "success", answer
    [table] = answer["result"]["outputs"]["table"]
    # NaN is not JSON: it arrives as null.
    assert table["data"] == [["Ann", 31, "Sales", 52000.5], ["Cid", 40, "Sales", 61000.0], ["Dee", 35, "HR", None]]
    assert table["columns"] == PEOPLE["columns"] and table["type"] == "dataframe"
