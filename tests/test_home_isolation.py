"""The test suite keeps out of the real home: default storage follows XDG_DATA_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nodetool_gateway.config import Config
from nodetool_gateway.config.models import storage_root

EXE = [sys.executable, "-m", "nodetool_gateway"]


def test_default_storage_is_under_the_suites_data_home():
    """Without storage.path a node's data goes under the suite's XDG_DATA_HOME, not the real home."""
    data_home = Path(os.environ["XDG_DATA_HOME"])
    assert not data_home.is_relative_to(Path.home())
    assert storage_root() == data_home / "nodetool-gateway"
    assert Config(node={"id": "box"}).storage.path == data_home / "nodetool-gateway" / "nodes" / "box"


def test_a_relative_data_home_is_ignored(monkeypatch, tmp_path):
    """A relative XDG_DATA_HOME is ignored, as the XDG spec says: ~/.local/share is used."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/data")
    assert storage_root() == tmp_path / ".local/share/nodetool-gateway"


def test_the_cli_writes_nothing_under_home(tmp_path):
    """assets mkdir and add with the default storage write under XDG_DATA_HOME and nothing under HOME."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    note = tmp_path / "note.txt"
    note.write_text("hi")
    made = subprocess.run([*EXE, "assets", "mkdir", "docs"], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    added = subprocess.run([*EXE, "assets", "add", str(note), "--parent", made.stdout.strip()],
                           capture_output=True, text=True, env=env, timeout=60, check=False)
    assert added.returncode == 0, added.stderr
    assert list(home.iterdir()) == []
    nodes = Path(os.environ["XDG_DATA_HOME"]) / "nodetool-gateway" / "nodes"
    assert any(nodes.glob("*/nodetool-gateway.db"))
    assert any(nodes.glob("*/assets/*"))
