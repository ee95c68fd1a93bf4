"""ChromaDB collections through CollectionStore: a real embedded store on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nodetool_gateway.stores import CollectionStore, StoreUnavailable
from nodetool_gateway.stores.collections import INSTALL_HINT

from ._helpers import TIME


def _run(code: str, home: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home)} if home is not None else None
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60 * TIME, env=env)


@pytest.fixture
def chroma_path(tmp_path: Path) -> Path:
    """A persistent ChromaDB store with two collections, added with explicit embeddings."""
    chromadb = pytest.importorskip("chromadb")
    from chromadb.config import Settings

    path = tmp_path / "chroma"
    client = chromadb.PersistentClient(path=str(path), settings=Settings(anonymized_telemetry=False))
    docs = client.create_collection("docs", metadata={"topic": "manuals"}, embedding_function=None)
    docs.add(ids=["a", "b", "c"], embeddings=[[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]],
             documents=["one", "two", "three"])
    notes = client.create_collection("notes", embedding_function=None)
    notes.add(ids=["x"], embeddings=[[1.0, 0.0]])
    return path


def test_lists_collections(chroma_path: Path):
    """CollectionStore.list returns each collection's name, metadata and count."""
    store = CollectionStore(chroma_path)
    assert store.available()
    listed = store.list()
    assert listed["count"] == 2
    assert sorted(listed["collections"], key=lambda c: c["name"]) == [
        {"name": "docs", "metadata": {"topic": "manuals"}, "count": 3},
        {"name": "notes", "metadata": {}, "count": 1},
    ]
    page = store.list(limit=1)
    assert len(page["collections"]) == 1 and page["count"] == 2


def test_gets_one_collection(chroma_path: Path):
    """CollectionStore.get returns one collection, or None for an unknown name."""
    store = CollectionStore(chroma_path)
    assert store.get("docs") == {"name": "docs", "metadata": {"topic": "manuals"}, "count": 3}
    assert store.get("missing") is None


def test_missing_store_is_empty_and_not_created(tmp_path: Path):
    """CollectionStore lists nothing for a store that does not exist, without creating it."""
    pytest.importorskip("chromadb")
    store = CollectionStore(tmp_path / "none")
    assert store.list() == {"collections": [], "count": 0}
    assert store.get("docs") is None
    assert not (tmp_path / "none").exists()


def test_nothing_reaches_the_network(chroma_path: Path, tmp_path: Path):
    """CollectionStore opens, lists and gets without a network connection or a model download."""
    home = tmp_path / "home"
    home.mkdir()
    result = _run(f"""
        import json, sys
        events = []
        def hook(event, args):
            if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto"):
                events.append([event, repr(args)[:200]])
        sys.addaudithook(hook)
        from nodetool_gateway.stores import CollectionStore
        store = CollectionStore({str(chroma_path)!r})
        listed = store.list()
        store.get("docs")
        print(json.dumps({{"count": listed["count"], "events": events}}))
    """, home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"count": 2, "events": []}
    # An embedding function would have fetched its model into ~/.cache/chroma.
    assert list(home.rglob("*")) == []


def test_unavailable_without_chromadb(tmp_path: Path):
    """CollectionStore says how to install ChromaDB when it cannot be imported."""
    result = _run(f"""
        import sys
        sys.modules["chromadb"] = None  # a real import failure, as when it is not installed
        from nodetool_gateway.stores import CollectionStore, StoreUnavailable
        store = CollectionStore({str(tmp_path)!r})
        print("available:", store.available())
        for call in (store.list, lambda: store.get("docs")):
            try:
                call()
            except StoreUnavailable as exc:
                print("unavailable:", exc)
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "available: False"
    assert len(lines) == 3 and all(INSTALL_HINT in line for line in lines[1:])
    assert INSTALL_HINT == "pip install 'nodetool-gateway[chroma]'"


def test_store_unavailable_carries_its_message():
    """StoreUnavailable keeps the message it was given."""
    exc = StoreUnavailable("install X")
    assert exc.message == str(exc) == "install X"
