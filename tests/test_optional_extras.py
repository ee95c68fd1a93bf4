"""A node on an install without an optional extra: what it advertises and what it answers.

The install without ChromaDB is real: a site-packages folder of links to this venv's
packages, less chromadb, with the node started on it in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import TIME

from nodetool_gateway.gateway import LocalGateway, OperatorClient

SRC = Path(__file__).resolve().parent.parent / "src"


def site_without(tmp_path: Path, prefix: str) -> Path:
    """A copy of this venv's site-packages (as links) without the packages named ``prefix*``."""
    real = Path(sysconfig.get_paths()["purelib"])
    site = tmp_path / "site-packages"
    site.mkdir()
    for entry in real.iterdir():
        if not entry.name.lower().startswith(prefix) and entry.suffix != ".pth":
            (site / entry.name).symlink_to(entry)
    return site


def python_on(site: Path, code: str) -> list[str]:
    """Python running ``code`` with the standard library, ``site`` and this project's source only."""
    return [sys.executable, "-S", "-c",
            f"import sys; sys.path[1:1] = [{str(SRC)!r}, {str(site)!r}]\n{code}"]


def site_lacking(tmp_path: Path, package: str) -> Path:
    """A site-packages without ``package`` (checked: importing it fails there)."""
    site = site_without(tmp_path, package)
    probe = subprocess.run(python_on(site, f"import {package}"), capture_output=True, text=True,
                           timeout=60, check=False)
    assert f"No module named '{package}'" in probe.stderr
    return site


@contextlib.asynccontextmanager
async def node_on(site: Path, tmp_path: Path, node_id: str):
    """A local gateway and a `connect` node running on ``site``; yields (gateway, operator)."""
    python = python_on(site, "from nodetool_gateway.cli import main\nmain()")
    log = (tmp_path / "node.log").open("wb")
    async with LocalGateway() as gw:
        node = await asyncio.create_subprocess_exec(
            *python, "connect", "--url", gw.url, "--node-id", node_id,
            stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": ""})
        try:
            await gw.wait_for_node(node_id, timeout=30 * TIME)
            async with OperatorClient.connect(gw.operator_url) as op:
                yield gw, op
        finally:
            node.terminate()
            await asyncio.wait_for(node.wait(), 30 * TIME)
            log.close()


@pytest.fixture
def no_chromadb(tmp_path) -> Path:
    return site_lacking(tmp_path, "chromadb")


async def test_collections_are_not_advertised_without_chromadb(tmp_path, no_chromadb):
    """Without ChromaDB the collection commands are not advertised, and a call names the extra."""
    async with node_on(no_chromadb, tmp_path, "no-chroma") as (gw, op):
        info = await gw.wait_for_node("no-chroma", timeout=30 * TIME)
        assert "list_workflows" in info.commands
        assert "list_collections" not in info.commands
        assert "get_collection" not in info.commands
        answer = await op.call("list_collections", {}, node_id="no-chroma", timeout=30 * TIME)
    assert answer["status"] == "error" and answer["code"] == "UNAVAILABLE", answer
    assert "pip install 'nodetool-gateway[chroma]'" in answer["error"]
