"""nodetool.data: tables on pandas, behind the ``data`` extra.

NodeTool's Python node types (nodetool-base ``nodes/nodetool/data.py``) under their
names, fields and outputs. A table travels as NodeTool's inline DataframeRef,
``{"type": "dataframe", "columns": [{"name", "data_type", "description"}], "data":
[[...], ...]}``, converted to and from pandas as nodetool-core does: rows come from
``DataFrame.values.tolist()``, so a table of ints and floats has only floats, and a
missing value is NaN (sent as ``null``).

The module imports without pandas, so its types stay known to the registry; each
type's validation check says which extra to install when pandas is missing, and
pandas is imported only when a node runs. Filter and FindRow take NodeTool's pandas
query syntax but evaluate it with the engine's safe evaluator (see ``_query``), never
``DataFrame.query``.

The types that read or write files, URLs or assets go through the library's shared
ways in: names through ``_paths`` as ``files`` resolves them (a relative name is in the
node's asset store, an absolute one inside ``files.allow``), URLs through ``_http``
under the node's ``network`` policy. Where NodeTool differs: SaveDataframe's reference
carries the table inline as well as the saved asset's ``uri``/``asset_id``; LoadCSVAssets
also takes an asset folder's path.
"""

from __future__ import annotations

import datetime
import importlib.util
import asyncio
import json
from io import BytesIO, StringIO
from typing import TYPE_CHECKING, Any, AsyncIterator, TypedDict

from pydantic import Field

from ..node import BaseNode
from . import _paths as P
from ._http import request
from ._query import matching
from ._util import UNSET
from .files import NAME_HELP, join_name, read_bytes, save_bytes, save_in_folder

if TYPE_CHECKING:
    import pandas as pd

NAMESPACE = "nodetool.data"

__all__ = ["NEEDS_PANDAS", "empty_dataframe", "to_pandas", "from_pandas",
           "Schema", "Filter", "Slice", "ImportCSV", "FromList", "JSONToDataframe", "ToList",
           "SelectColumn", "ExtractColumn", "AddColumn", "Merge", "Append", "Join",
           "RowIterator", "FindRow", "SortByColumn", "DropDuplicates", "DropNA", "ForEachRow",
           "Aggregate", "Pivot", "Rename", "FillNA", "FilterNone", "SaveDataframe", "LoadCSVURL",
           "LoadCSVFile", "LoadCSVAssets", "SaveCSVDataframeFile"]

NEEDS_PANDAS = ("needs pandas, which this install does not have: "
                "pip install 'nodetool-gateway[data]'")

# NodeTool's value shapes travel as plain dicts.
DataframeRef = dict[str, Any]


def empty_dataframe() -> DataframeRef:
    """NodeTool's default DataframeRef: no columns, no data."""
    return {"type": "dataframe", "uri": "", "asset_id": None, "data": None, "metadata": None,
            "columns": None}


def _frame_field(description: str = "") -> Any:
    return Field(default_factory=empty_dataframe, description=description)


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ValueError(f"nodetool.data {NEEDS_PANDAS}") from None
    return pandas


def _dtype_name(dtype: str) -> str:
    # nodetool-core metadata.types.dtype_name
    if dtype.startswith("int"):
        return "int"
    if dtype.startswith("float"):
        return "float"
    if dtype.startswith("datetime"):
        return "datetime"
    return "object"


def to_pandas(ref: Any) -> pd.DataFrame:
    """A DataframeRef as a pandas DataFrame, as NodeTool's ``dataframe_to_pandas``:
    ``DataFrame(data, columns=[names])``. The newer ``{"rows": [{...}]}`` shape is read
    too; an empty reference is an empty table."""
    pd = _pandas()
    if isinstance(ref, pd.DataFrame):
        return ref
    if not isinstance(ref, dict):
        raise ValueError(f"expected a dataframe, got {type(ref).__name__}")
    columns = ref.get("columns")
    if columns:
        names = [c.get("name") if isinstance(c, dict) else c for c in columns]
        return pd.DataFrame(ref.get("data"), columns=names)
    if isinstance(ref.get("rows"), list):
        return pd.DataFrame(ref["rows"])
    if ref.get("uri") or ref.get("asset_id"):
        raise ValueError("a dataframe stored as an asset or URI cannot be read here; "
                         "pass it inline (columns and data)")
    return pd.DataFrame()


def _cell(value: Any) -> Any:
    # What values.tolist() leaves that JSON cannot carry: timestamps, NaT, numpy scalars.
    if isinstance(value, datetime.datetime):
        return None if value != value else value.isoformat()  # NaT != NaT
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return value.item()
    return value


def from_pandas(df: pd.DataFrame) -> DataframeRef:
    """A pandas DataFrame as NodeTool's inline DataframeRef (nodetool-core's
    ``DataframeRef.from_pandas``): the index is dropped, numbers share the frame's
    common dtype, missing values are NaN; timestamps become ISO strings."""
    rows = df.values.tolist()
    if any(dtype.kind in "OMmU" or dtype.name == "str" for dtype in df.dtypes):
        rows = [[_cell(v) for v in row] for row in rows]
    columns = [{"name": name if isinstance(name, str) else str(name),
                "data_type": _dtype_name(dtype.name), "description": ""}
               for name, dtype in zip(df.columns, df.dtypes)]
    return {"type": "dataframe", "uri": "", "asset_id": None, "data": rows, "metadata": None,
            "columns": columns}


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",")]


def _query(df: pd.DataFrame, condition: str) -> pd.DataFrame:
    records = [{str(k): v for k, v in row.items()} for row in df.to_dict("records")]
    return df.iloc[[i for i, keep in enumerate(matching(records, condition)) if keep]]


class DataNode(BaseNode):
    """A node type that needs pandas: validation names the extra when it is missing."""

    abstract = True

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        if importlib.util.find_spec("pandas") is None:
            return [NEEDS_PANDAS]
        return []


class Schema(BaseNode):
    """
    Define a schema for a dataframe.
    schema, dataframe, create
    """

    columns: dict[str, Any] = Field(default_factory=lambda: {"type": "record_type", "columns": []},
                                    description="The columns to use in the dataframe.")

    async def process(self, context: Any) -> dict[str, Any]:
        return self.columns


class Filter(DataNode):
    """
    Filter dataframe based on condition (pandas query syntax).
    filter, query, condition

    Example conditions: ``age > 30``, ``age > 30 and salary < 50000``,
    ``name == 'John Doe'``, ``100 <= price <= 200``, ``status in ['Active', 'Pending']``,
    ``not (age < 18)``.
    """

    df: DataframeRef = _frame_field("The DataFrame to filter.")
    condition: str = Field(default="", description="The filtering condition to be applied to "
                                                   "the DataFrame, e.g. column_name > 5.")

    async def process(self, context: Any) -> DataframeRef:
        return from_pandas(_query(to_pandas(self.df), self.condition))


class Slice(DataNode):
    """
    Slice a dataframe by rows using start and end indices.
    slice, subset, rows
    """

    dataframe: DataframeRef = _frame_field("The input dataframe to be sliced.")
    start_index: int = Field(default=0, description="The starting index of the slice (inclusive).")
    end_index: int = Field(default=-1, description="The ending index of the slice (exclusive). "
                                                   "Use -1 for the last row.")

    async def process(self, context: Any) -> DataframeRef:
        df = to_pandas(self.dataframe)
        end = len(df) if self.end_index == -1 else self.end_index
        return from_pandas(df.iloc[self.start_index:end])


class ImportCSV(DataNode):
    """
    Convert CSV string to dataframe.
    csv, dataframe, import
    """

    csv_data: str = Field(default="", title="CSV Data", description="String input of CSV formatted text.")

    async def process(self, context: Any) -> DataframeRef:
        return from_pandas(_pandas().read_csv(StringIO(self.csv_data)))


class FromList(DataNode):
    """
    Convert list of dicts to dataframe; a value that is a dict contributes its "value".
    list, dataframe, convert
    """

    values: list[Any] = Field(default=[], title="Values",
                              description="List of values to be converted, each value will be a row.")

    async def process(self, context: Any) -> DataframeRef:
        rows = []
        for value in self.values:
            if not isinstance(value, dict):
                raise ValueError("List must contain dicts.")
            row = {}
            for k, v in value.items():
                if isinstance(v, dict):
                    row[k] = v["value"]
                elif isinstance(v, (int, float, str, bool)):
                    row[k] = v
                else:
                    row[k] = str(v)
            rows.append(row)
        return from_pandas(_pandas().DataFrame(rows))


class JSONToDataframe(DataNode):
    """
    Transforms a JSON string into a pandas DataFrame.
    json, dataframe, conversion
    """

    node_title = "Convert JSON to DataFrame"

    text: str = Field(default="", title="JSON")

    async def process(self, context: Any) -> DataframeRef:
        return from_pandas(_pandas().DataFrame(json.loads(self.text)))


class ToList(DataNode):
    """
    Convert dataframe to list of dictionaries.
    dataframe, list, convert
    """

    dataframe: DataframeRef = _frame_field("The input dataframe to convert.")

    async def process(self, context: Any) -> list[dict]:
        return to_pandas(self.dataframe).to_dict("records")


class SelectColumn(DataNode):
    """
    Select specific columns from dataframe.
    dataframe, columns, filter
    """

    dataframe: DataframeRef = _frame_field("a dataframe from which columns are to be selected")
    columns: str = Field(default="", description="comma separated list of column names")

    async def process(self, context: Any) -> DataframeRef:
        # NodeTool splits on commas without stripping: "a, b" names " b".
        return from_pandas(to_pandas(self.dataframe)[self.columns.split(",")])


class ExtractColumn(DataNode):
    """
    Convert dataframe column to list.
    dataframe, column, list
    """

    dataframe: DataframeRef = _frame_field("The input dataframe.")
    column_name: str = Field(default="", description="The name of the column to be converted to a list.")

    async def process(self, context: Any) -> list[Any]:
        return [_cell(v) for v in to_pandas(self.dataframe)[self.column_name].tolist()]


class AddColumn(DataNode):
    """
    Add list of values as new column to dataframe.
    dataframe, column, list
    """

    dataframe: DataframeRef = _frame_field("Dataframe object to add a new column to.")
    column_name: str = Field(default="", description="The name of the new column to be added to the dataframe.")
    values: list[Any] = Field(default=[], description="A list of any type of elements which will be "
                                                      "the new column's values.")

    async def process(self, context: Any) -> DataframeRef:
        df = to_pandas(self.dataframe)
        df[self.column_name] = self.values
        return from_pandas(df)


class Merge(DataNode):
    """
    Merge two dataframes along columns.
    merge, concat, columns
    """

    dataframe_a: DataframeRef = _frame_field("First DataFrame to be merged.")
    dataframe_b: DataframeRef = _frame_field("Second DataFrame to be merged.")

    async def process(self, context: Any) -> DataframeRef:
        pd = _pandas()
        return from_pandas(pd.concat([to_pandas(self.dataframe_a), to_pandas(self.dataframe_b)], axis=1))


class Append(DataNode):
    """
    Append two dataframes along rows; their columns must match unless one is empty.
    append, concat, rows
    """

    dataframe_a: DataframeRef = _frame_field("First DataFrame to be appended.")
    dataframe_b: DataframeRef = _frame_field("Second DataFrame to be appended.")

    async def process(self, context: Any) -> DataframeRef:
        df_a, df_b = to_pandas(self.dataframe_a), to_pandas(self.dataframe_b)
        if df_a.empty:
            return from_pandas(df_b)
        if df_b.empty:
            return from_pandas(df_a)
        if not df_a.columns.equals(df_b.columns):
            raise ValueError(f"Columns in dataframe A ({list(df_a.columns)}) do not match "
                             f"columns in dataframe B ({list(df_b.columns)})")
        return from_pandas(_pandas().concat([df_a, df_b], axis=0))


class Join(DataNode):
    """
    Join two dataframes on specified column (an inner join; as in NodeTool, both must
    have the same columns).
    join, merge, column
    """

    dataframe_a: DataframeRef = _frame_field("First DataFrame to be merged.")
    dataframe_b: DataframeRef = _frame_field("Second DataFrame to be merged.")
    join_on: str = Field(default="", description="The column name on which to join the two dataframes.")

    async def process(self, context: Any) -> DataframeRef:
        df_a, df_b = to_pandas(self.dataframe_a), to_pandas(self.dataframe_b)
        if not df_a.columns.equals(df_b.columns):
            raise ValueError(f"Columns in dataframe A ({list(df_a.columns)}) do not match "
                             f"columns in dataframe B ({list(df_b.columns)})")
        return from_pandas(_pandas().merge(df_a, df_b, on=self.join_on))


def _rows(df: pd.DataFrame) -> list[tuple[Any, dict[str, Any]]]:
    # iterrows, as NodeTool: a row of ints and floats comes out as floats.
    return [(_cell(index), {k: _cell(v) for k, v in row.to_dict().items()})
            for index, row in df.iterrows()]


class RowIterator(DataNode):
    """
    Iterate over rows of a dataframe.
    """

    node_title = "Row Iterator"

    dataframe: DataframeRef = _frame_field("The input dataframe.")

    class OutputType(TypedDict):
        dict: dict
        index: Any

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        for index, row in _rows(to_pandas(self.dataframe)):
            if getattr(context, "cancelled", False):
                return
            yield {"dict": row, "index": index}


class FindRow(DataNode):
    """
    Find the first row in a dataframe that matches a given condition (pandas query syntax).
    filter, query, condition, single row
    """

    df: DataframeRef = _frame_field("The DataFrame to search.")
    condition: str = Field(default="", description="The condition to filter the DataFrame, "
                                                   "e.g. 'column_name == value'.")

    async def process(self, context: Any) -> DataframeRef:
        return from_pandas(_query(to_pandas(self.df), self.condition).head(1))


class SortByColumn(DataNode):
    """
    Sort dataframe by specified column.
    sort, order, column
    """

    df: DataframeRef = _frame_field()
    column: str = Field(default="", description="The column to sort the DataFrame by.")

    async def process(self, context: Any) -> DataframeRef:
        return from_pandas(to_pandas(self.df).sort_values(self.column))


class DropDuplicates(DataNode):
    """
    Remove duplicate rows from dataframe.
    duplicates, unique, clean
    """

    df: DataframeRef = _frame_field("The input DataFrame.")

    async def process(self, context: Any) -> DataframeRef:
        return from_pandas(to_pandas(self.df).drop_duplicates())


class DropNA(DataNode):
    """
    Remove rows with NA values from dataframe.
    na, missing, clean
    """

    df: DataframeRef = _frame_field("The input DataFrame.")

    async def process(self, context: Any) -> DataframeRef:
        return from_pandas(to_pandas(self.df).dropna())


class ForEachRow(DataNode):
    """
    Iterate over rows of a dataframe.
    iterator, loop, dataframe, sequence, rows
    """

    dataframe: DataframeRef = _frame_field("The input dataframe.")

    class OutputType(TypedDict):
        row: dict
        index: Any

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        for index, row in _rows(to_pandas(self.dataframe)):
            if getattr(context, "cancelled", False):
                return
            yield {"row": row, "index": index}


AGGREGATIONS = ("sum", "mean", "count", "min", "max", "std", "var", "median", "first", "last")


class Aggregate(DataNode):
    """
    Aggregate dataframe by one or more columns.
    aggregate, groupby, group, sum, mean, count, min, max, std, var, median, first, last
    """

    dataframe: DataframeRef = _frame_field("The DataFrame to group.")
    columns: str = Field(default="", description="Comma-separated column names to group by.")
    aggregation: str = Field(default="sum", description="Aggregation function: sum, mean, count, "
                                                        "min, max, std, var, median, first, last")

    async def process(self, context: Any) -> DataframeRef:
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"Unknown aggregation function: {self.aggregation}")
        groups = to_pandas(self.dataframe).groupby(_names(self.columns))
        return from_pandas(getattr(groups, self.aggregation)().reset_index())


class Pivot(DataNode):
    """
    Pivot dataframe to reshape data.
    pivot, reshape, transform
    """

    dataframe: DataframeRef = _frame_field("The DataFrame to pivot.")
    index: str = Field(default="", description="Column name to use as index (rows).")
    columns: str = Field(default="", description="Column name to use as columns.")
    values: str = Field(default="", description="Column name to use as values.")
    aggfunc: str = Field(default="sum", description="Aggregation function: sum, mean, count, min, "
                                                    "max, first, last")

    async def process(self, context: Any) -> DataframeRef:
        pd = _pandas()
        if self.aggfunc not in ("sum", "mean", "count", "min", "max", "first", "last"):
            raise ValueError(f"Unknown aggregation function: {self.aggfunc}")
        result = to_pandas(self.dataframe).pivot_table(index=self.index, columns=self.columns,
                                                       values=self.values, aggfunc=self.aggfunc)
        if isinstance(result.columns, pd.MultiIndex):
            result.columns = ["_".join(map(str, col)).strip() for col in result.columns.values]
        return from_pandas(result.reset_index())


class Rename(DataNode):
    """
    Rename columns in dataframe.
    rename, columns, names
    """

    dataframe: DataframeRef = _frame_field("The DataFrame to rename columns.")
    rename_map: str = Field(default="", description="Column rename mapping in format: old1:new1,old2:new2")

    async def process(self, context: Any) -> DataframeRef:
        df = to_pandas(self.dataframe)
        renames = {}
        for mapping in self.rename_map.split(","):
            if ":" in mapping:
                old, new = mapping.strip().split(":", 1)
                renames[old.strip()] = new.strip()
        return from_pandas(df.rename(columns=renames) if renames else df)


class FillNA(DataNode):
    """
    Fill missing values in dataframe: with a value, forward, backward, or a numeric
    column's mean or median.
    fillna, missing, impute
    """

    dataframe: DataframeRef = _frame_field("The DataFrame with missing values.")
    value: Any = Field(default=0, description="Value to use for filling missing values.")
    method: str = Field(default="value", description="Method for filling: value, forward, "
                                                     "backward, mean, median")
    columns: str = Field(default="", description="Comma-separated column names to fill. "
                                                 "Leave empty for all columns.")

    async def process(self, context: Any) -> DataframeRef:
        df = to_pandas(self.dataframe)
        cols = _names(self.columns) if self.columns else df.columns.tolist()
        if self.method == "value":
            df[cols] = df[cols].fillna(self.value)
        elif self.method == "forward":
            df[cols] = df[cols].ffill()
        elif self.method == "backward":
            df[cols] = df[cols].bfill()
        elif self.method in ("mean", "median"):
            for col in cols:
                if df[col].dtype in ("float64", "int64"):
                    df[col] = df[col].fillna(getattr(df[col], self.method)())
        else:
            raise ValueError(f"Unknown fill method: {self.method}")
        return from_pandas(df)


class FilterNone(BaseNode):
    """
    Filters out None values from a stream.
    filter, none, null, stream
    """

    value: Any = Field(default=UNSET, description="Input stream")

    class OutputType(TypedDict):
        output: Any

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        if self.value is not None and self.value is not UNSET:
            yield {"output": self.value}


def _csv_frame(data: bytes) -> DataframeRef:
    return from_pandas(_pandas().read_csv(BytesIO(data)))


def _csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


class SaveDataframe(DataNode):
    """
    Save dataframe in specified folder: a CSV asset in the asset folder ``folder`` (a
    FolderRef, or a path as nodetool.dictionary.SaveJSON takes one; empty for the top of
    the asset store). Returns the table with the saved asset's ``uri`` and ``asset_id``.
    The name may hold strftime codes (%Y%m%d-%H%M%S).
    csv, folder, save
    """

    df: DataframeRef = _frame_field()
    folder: Any = Field(default={"type": "folder", "uri": "", "asset_id": None, "data": None},
                        description="Name of the output folder.")
    name: str = Field(default="output.csv", description=NAME_HELP)

    async def process(self, context: Any) -> DataframeRef:
        df = to_pandas(self.df)
        ref = await save_in_folder(context, self.folder, P.expand_name(self.name), _csv_bytes(df),
                                   kind="dataframe", content_type="text/csv")
        return {**from_pandas(df), "uri": ref["uri"], "asset_id": ref["asset_id"]}


class LoadCSVURL(DataNode):
    """
    Load CSV file from URL (fetched under the node's network policy).
    csv, dataframe, import
    """

    url: str = Field(default="", description="The URL of the CSV file to load.")

    async def process(self, context: Any) -> DataframeRef:
        r = await request(getattr(context, "services", None), "GET", self.url)
        if r.status_code >= 400:
            raise ValueError(f"GET {r.url} answered HTTP {r.status_code}")
        return _csv_frame(r.content)


class LoadCSVFile(DataNode):
    """
    Load CSV file from file path (a path in the asset store, or inside files.allow).
    csv, dataframe, import
    """

    file_path: str = Field(default="", description="The path to the CSV file to load.")

    async def process(self, context: Any) -> DataframeRef:
        if not self.file_path:
            raise ValueError("file_path cannot be empty")
        data = await asyncio.to_thread(read_bytes, getattr(context, "services", None),
                                       self.file_path, "file_path")
        return _csv_frame(data)


class LoadCSVAssets(DataNode):
    """
    Load dataframes from an asset folder: each CSV asset (text/csv) directly in it, by name.
    load, dataframe, file, import
    """

    node_title = "Load CSV Assets"

    folder: Any = Field(default={"type": "folder", "uri": "", "asset_id": None, "data": None},
                        description="The asset folder to load the dataframes from.")

    class OutputType(TypedDict):
        dataframe: DataframeRef
        name: str

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        services = getattr(context, "services", None)
        folder = P.resolve_folder(services, self.folder)
        if not folder or isinstance(folder, P.AssetPath) and not folder.parts:
            raise ValueError("Please select an asset folder.")
        if isinstance(folder, P.DiskPath):
            raise ValueError(f"folder {folder.text!r} is not an asset folder; LoadCSVAssets reads "
                             f"the asset store (use LoadCSVFile for a file on disk)")
        for name, data in await asyncio.to_thread(self._files, services, folder):
            if getattr(context, "cancelled", False):
                return
            yield {"name": name, "dataframe": _csv_frame(data)}

    def _files(self, services: Any, folder: Any) -> list[tuple[str, bytes]]:
        limit = P.max_read(services)
        with P.asset_store(services) as store:
            if isinstance(folder, str):
                asset = store.get(folder)
                text = folder
            else:
                asset, text = P.find_asset(store, folder), folder.text
            if asset is None or asset["content_type"] != P.FOLDER:
                raise ValueError(f"Folder does not exist: {text!r} in the asset store")
            found = []
            for a in store.children(asset["id"]):
                if a["content_type"] == "text/csv":
                    data = store.read(a["id"], limit)
                    if data is None:
                        raise ValueError(f"{a['name']!r} is larger than engine.max_value_size "
                                         f"({limit} bytes)")
                    found.append((a["name"], data))
            return found


class SaveCSVDataframeFile(DataNode):
    """
    Write a pandas DataFrame to a CSV file in ``folder`` (an asset folder, or an existing
    folder inside files.allow); returns the dataframe. The filename can include time and
    date variables: %Y - Year, %m - Month, %d - Day, %H - Hour, %M - Minute, %S - Second.
    files, csv, write, output, save, file
    """

    dataframe: DataframeRef = _frame_field("DataFrame to write to CSV")
    folder: str = Field(default="", description="Folder where the file will be saved")
    filename: str = Field(default="", description="Name of the CSV file to save. Supports "
                                                  "strftime format codes.")

    async def process(self, context: Any) -> DataframeRef:
        if not self.folder:
            raise ValueError("folder cannot be empty")
        if not self.filename:
            raise ValueError("filename cannot be empty")
        df = to_pandas(self.dataframe)
        target = join_name(P.path_text(self.folder), P.expand_name(self.filename))
        await save_bytes(context, target, _csv_bytes(df), kind="dataframe",
                         content_type="text/csv", what="folder/filename", make_folders=False)
        return self.dataframe
