"""Fixtures for the store tests: a real SQLite file in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodetool_gateway.stores import Database


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "gateway.db")
    yield database
    database.close()
