"""Fixtures for the config pipeline tests: real files in tmp_path, real imports."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nodetool_gateway.handlers import builtin

Write = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write a dedented file under tmp_path and return its path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    return write


@pytest.fixture
def modname(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], str]]:
    """Make unique module names, and forget those modules and sys.path changes afterwards."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    made: list[str] = []

    def make() -> str:
        made.append(f"cfgtest_{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield make
    for name in made:
        sys.modules.pop(name, None)


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch, write: Write, tmp_path: Path, modname) -> str:
    """Point the built-in routes at a handler module written into tmp_path.

    Returns the module name. Resolve tests then do not depend on the real
    handler modules, which other parts of the project own.
    """
    mod = modname()
    write(
        f"{mod}.py",
        """
        def list_things(query=None):
            return []

        async def run_things(workflow_id):
            return {}

        def on_workflow(message):
            return None
        """,
    )
    sys.path.insert(0, str(tmp_path))
    monkeypatch.setattr(
        builtin,
        "DEFAULT_COMMANDS",
        {
            "list_things": {"handler": f"{mod}:list_things", "timeout": "30s"},
            "run_things": {"handler": f"{mod}:run_things", "timeout": "1h", "concurrency": 4},
        },
    )
    monkeypatch.setattr(
        builtin,
        "DEFAULT_ROUTES",
        {"workflow_request": {"handler": f"{mod}:on_workflow", "timeout": "1h", "concurrency": 2}},
    )
    return mod
