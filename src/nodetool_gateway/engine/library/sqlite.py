"""``lib.sqlite``: SQLite databases in the node's storage folder (``<storage>/sqlite``).

NodeTool keeps them in its workspace folder; here a database is a file name in
``<storage.path>/sqlite`` and nothing else: a name with a path separator, ``..``
or an absolute path is refused, and so is a file there that links elsewhere.
Values are always bound as parameters; table and column names are quoted as
NodeTool quotes them. ``where`` and ``order_by`` are SQL, as in NodeTool, but a
statement cannot ATTACH another file, so no SQL reaches outside the folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from pydantic import Field

from ..node import BaseNode

NAMESPACE = "lib.sqlite"

_TYPES = {"int": "INTEGER", "float": "REAL", "datetime": "TEXT", "string": "TEXT", "object": "TEXT"}
_MODIFYING = ("INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP")


def _record_type() -> dict[str, Any]:
    return {"type": "record_type", "columns": []}


def _columns(value: Any) -> list[dict[str, Any]]:
    columns = value.get("columns") if isinstance(value, dict) else None
    return [c for c in columns or [] if isinstance(c, dict) and c.get("name")]


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot name a database in the storage folder, or None."""
    if not isinstance(name, str) or not name.strip():
        return "database_name is empty"
    if "/" in name or "\\" in name or os.sep in name or name in (".", "..") or ".." in name \
            or "\x00" in name or os.path.isabs(name):
        return (f"database_name {name!r} is not a plain file name: databases live in the node's "
                f"storage folder (storage.path/sqlite), so a path, '..' or an absolute path is refused")
    return None


def database_path(services: Any, name: str) -> Path:
    """The database file ``name`` in ``<storage>/sqlite``; raises ValueError for any other place."""
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    storage = getattr(services, "storage", None)
    if storage is None:
        raise ValueError("SQLite nodes need the node's storage folder (storage.path)")
    folder = Path(storage) / "sqlite"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise ValueError(f"database_name {name!r} leads outside the node's storage folder")
    return path


def _deny_attach(action: int, *args: Any) -> int:
    # ATTACH (and VACUUM INTO, which attaches its target) could open any file.
    return sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_ATTACH else sqlite3.SQLITE_OK


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.set_authorizer(_deny_attach)
    return conn


def _modify(path: Path, sql: str, params: Sequence[Any] = ()) -> tuple[int, int | None]:
    """Run one statement that changes the database and commit it: (rows affected, last row id)."""
    conn = _connect(path)
    try:
        cur = conn.execute(sql, params)
        conn.commit()
        return cur.rowcount, cur.lastrowid
    finally:
        conn.close()


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _bindable(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def _row(row: sqlite3.Row) -> dict[str, Any]:
    # As NodeTool: a text value that looks like a JSON object or array is parsed.
    out = dict(row)
    for key, value in out.items():
        if isinstance(value, str) and value.strip().startswith(("{", "[")):
            try:
                out[key] = json.loads(value)
            except ValueError:
                pass
    return out


class _SQLiteNode(BaseNode):
    abstract = True

    @classmethod
    def check(cls, node: Any, services: Any) -> list[str]:
        name = node.data.get("database_name")
        problem = name_problem(name) if name is not None else None
        return [problem] if problem else []

    def _path(self, context: Any) -> Path:
        return database_path(getattr(context, "services", None), self.database_name)


class CreateTable(_SQLiteNode):
    """Create a new SQLite table with specified columns.
    sqlite, database, table, create, schema

    Use cases:
    - Initialize database schema for flashcards
    - Set up tables for persistent storage
    - Create memory structures for agents
    """

    database_name: str = Field(default="memory.db", description="Name of the SQLite database file")
    table_name: str = Field(default="flashcards", description="Name of the table to create")
    columns: dict[str, Any] = Field(default_factory=_record_type, description="Column definitions")
    add_primary_key: bool = Field(
        default=True, description="Automatically make first integer column PRIMARY KEY AUTOINCREMENT")
    if_not_exists: bool = Field(default=True, description="Only create table if it doesn't exist")

    class OutputType(TypedDict):
        database_name: str
        table_name: str
        columns: dict

    async def process(self, context: Any) -> OutputType:
        path = self._path(context)
        await asyncio.to_thread(self._create, path)
        return {"database_name": self.database_name, "table_name": self.table_name,
                "columns": self.columns}

    def _create(self, path: Path) -> None:
        conn = _connect(path)
        try:
            exists = conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name=?",
                                  (self.table_name,)).fetchone()
            if exists:
                return
            defs = []
            for i, col in enumerate(_columns(self.columns)):
                kind = col.get("data_type", "string")
                if i == 0 and self.add_primary_key and kind == "int":
                    defs.append(f"{_quote(col['name'])} INTEGER PRIMARY KEY AUTOINCREMENT")
                else:
                    defs.append(f"{_quote(col['name'])} {_TYPES.get(kind, 'TEXT')}")
            clause = "IF NOT EXISTS " if self.if_not_exists else ""
            conn.execute(f"CREATE TABLE {clause}{_quote(self.table_name)} ({', '.join(defs)})")
            conn.commit()
        finally:
            conn.close()


class Insert(_SQLiteNode):
    """Insert a record into a SQLite table.
    sqlite, database, insert, add, record

    Use cases:
    - Add new flashcards to database
    - Store agent observations
    - Persist workflow results
    """

    database_name: str = Field(default="memory.db", description="Name of the SQLite database file")
    table_name: str = Field(default="flashcards", description="Name of the table to insert into")
    data: dict[str, Any] = Field(default_factory=lambda: {"content": "example"},
                                 description="Data to insert as dict (column: value)")

    async def process(self, context: Any) -> dict[str, Any]:
        path = self._path(context)
        return await asyncio.to_thread(self._insert, path)

    def _insert(self, path: Path) -> dict[str, Any]:
        columns = ", ".join(_quote(k) for k in self.data)
        marks = ", ".join("?" for _ in self.data)
        count, row_id = _modify(path, f"INSERT INTO {_quote(self.table_name)} ({columns}) "
                                      f"VALUES ({marks})", [_bindable(v) for v in self.data.values()])
        return {"row_id": row_id, "rows_affected": count,
                "message": f"Inserted record with ID {row_id}"}


class Query(_SQLiteNode):
    """Query records from a SQLite table.
    sqlite, database, query, select, search, retrieve

    Use cases:
    - Retrieve flashcards for review
    - Search agent memory
    - Fetch stored data

    ``output`` is the list of rows (NodeTool since October 2025); ``row`` and
    ``index`` stream each row first, as older NodeTool did, for the workflows
    made then.
    """

    database_name: str = Field(default="memory.db", description="Name of the SQLite database file")
    table_name: str = Field(default="flashcards", description="Name of the table to query")
    where: str = Field(default="", description="WHERE clause (without 'WHERE' keyword), e.g., 'id = 1'")
    columns: dict[str, Any] = Field(default_factory=_record_type, description="Columns to select")
    order_by: str = Field(default="", description="ORDER BY clause (without 'ORDER BY' keyword)")
    limit: int = Field(default=0, description="Maximum number of rows to return (0 = no limit)")

    class OutputType(TypedDict):
        output: list[dict[str, Any]]
        row: dict[str, Any]
        index: int

    async def gen_process(self, context: Any):
        path = self._path(context)
        rows = await asyncio.to_thread(self._query, path)
        for i, row in enumerate(rows):
            yield {"row": row, "index": i}
        yield {"output": rows}

    def _query(self, path: Path) -> list[dict[str, Any]]:
        if not path.exists():
            return []
        cols = _columns(self.columns)
        selected = ", ".join(_quote(c["name"]) for c in cols) if cols else "*"
        sql = f"SELECT {selected} FROM {_quote(self.table_name)}"
        params: list[Any] = []
        if self.where:
            sql += f" WHERE {self.where}"
        if self.order_by:
            sql += f" ORDER BY {self.order_by}"
        if self.limit > 0:
            sql += " LIMIT ?"
            params.append(self.limit)
        conn = _connect(path)
        try:
            return [_row(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()


class Update(_SQLiteNode):
    """Update records in a SQLite table.
    sqlite, database, update, modify, change

    Use cases:
    - Update flashcard content
    - Modify stored records
    - Change agent memory
    """

    database_name: str = Field(default="memory.db", description="Name of the SQLite database file")
    table_name: str = Field(default="flashcards", description="Name of the table to update")
    data: dict[str, Any] = Field(default_factory=lambda: {"content": "updated"},
                                 description="Data to update as dict (column: new_value)")
    where: str = Field(default="", description="WHERE clause (without 'WHERE' keyword), e.g., 'id = 1'")

    async def process(self, context: Any) -> dict[str, Any]:
        path = self._path(context)
        return await asyncio.to_thread(self._update, path)

    def _update(self, path: Path) -> dict[str, Any]:
        sets = ", ".join(f"{_quote(k)} = ?" for k in self.data)
        sql = f"UPDATE {_quote(self.table_name)} SET {sets}"
        if self.where:
            sql += f" WHERE {self.where}"
        count, _ = _modify(path, sql, [_bindable(v) for v in self.data.values()])
        return {"rows_affected": count, "message": f"Updated {count} record(s)"}


class Delete(_SQLiteNode):
    """Delete records from a SQLite table.
    sqlite, database, delete, remove, drop

    Use cases:
    - Remove flashcards
    - Delete agent memory
    - Clean up old data
    """

    database_name: str = Field(default="memory.db", description="Name of the SQLite database file")
    table_name: str = Field(default="flashcards", description="Name of the table to delete from")
    where: str = Field(default="", description="WHERE clause (without 'WHERE' keyword), e.g., "
                                               "'id = 1'. REQUIRED for safety.")

    async def process(self, context: Any) -> dict[str, Any]:
        if not self.where:
            raise ValueError("WHERE clause is required for DELETE operations to prevent "
                             "accidental data loss")
        path = self._path(context)
        return await asyncio.to_thread(self._delete, path)

    def _delete(self, path: Path) -> dict[str, Any]:
        count, _ = _modify(path, f"DELETE FROM {_quote(self.table_name)} WHERE {self.where}")
        return {"rows_affected": count, "message": f"Deleted {count} record(s)"}


class ExecuteSQL(_SQLiteNode):
    """Execute arbitrary SQL statements for advanced operations.
    sqlite, database, sql, execute, custom

    Use cases:
    - Complex queries with joins
    - Aggregate functions (COUNT, SUM, AVG)
    - Custom SQL operations
    """

    database_name: str = Field(default="memory.db", description="Name of the SQLite database file")
    sql: str = Field(default="SELECT * FROM flashcards", description="SQL statement to execute")
    parameters: list[Any] = Field(default=[], description="Parameters for parameterized queries "
                                                          "(use ? in SQL)")

    async def process(self, context: Any) -> dict[str, Any]:
        path = self._path(context)
        return await asyncio.to_thread(self._execute, path)

    def _execute(self, path: Path) -> dict[str, Any]:
        conn = _connect(path)
        try:
            cur = conn.execute(self.sql, [_bindable(v) for v in self.parameters])
            if self.sql.strip().upper().startswith(_MODIFYING):
                conn.commit()
                return {"rows_affected": cur.rowcount, "last_row_id": cur.lastrowid,
                        "message": "SQL executed successfully"}
            rows = [_row(r) for r in cur]
            return {"rows": rows, "count": len(rows), "message": f"Query returned {len(rows)} row(s)"}
        finally:
            conn.close()


class GetDatabasePath(_SQLiteNode):
    """Get the full path to a SQLite database file.
    sqlite, database, path, location

    Use cases:
    - Reference database location
    - Verify database exists
    - Pass path to external tools
    """

    database_name: str = Field(default="memory.db", description="Name of the SQLite database file")

    async def process(self, context: Any) -> str:
        return str(self._path(context))
