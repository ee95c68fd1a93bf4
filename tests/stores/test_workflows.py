"""NodeTool workflow files from folders, kept current by a watcher."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from nodetool_gateway.stores import WorkflowStore

from ._helpers import EXAMPLES, TIME

FILTER_ID = "9f6e60ec46ab47499dd10088d6375b99"  # the id inside "Filter JSON Data.json"


def _workflow(name: str, *, id: str | None = None, **extra: Any) -> str:
    data: dict[str, Any] = {"name": name, "graph": {"nodes": [], "edges": []}, **extra}
    if id is not None:
        data["id"] = id
    return json.dumps(data)


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A writable copy of NodeTool's examples."""
    folder = tmp_path / "examples"
    folder.mkdir()
    for path in EXAMPLES.glob("*.json"):
        shutil.copyfile(path, folder / path.name)
    return folder


def test_reads_nodetool_examples():
    """WorkflowStore reads NodeTool's example files, ids falling back to the file name."""
    store = WorkflowStore([EXAMPLES])
    store.scan()
    summaries, total = store.list()
    assert total == 3
    assert [s["name"] for s in summaries] == ["Conditional Logic Engine", "Evaluate Expression",
                                              "Filter JSON Data"]
    assert [s["id"] for s in summaries] == ["Conditional Logic Engine", "Evaluate Expression",
                                            FILTER_ID]
    assert set(summaries[0]) == {"id", "name", "description", "tags", "created_at", "updated_at"}
    assert summaries[1]["tags"] == ["node", "advanced"]
    assert summaries[1]["created_at"] == "2025-06-10T16:23:25.084534"
    # expected.json sits beside them and is not a workflow.
    assert list(store.errors) == [EXAMPLES.resolve() / "expected.json"]


def test_get_returns_the_whole_workflow():
    """WorkflowStore.get returns the whole JSON with id and name filled in, as a copy."""
    store = WorkflowStore([EXAMPLES])
    store.scan()
    workflow = store.get("Evaluate Expression")
    raw = json.loads((EXAMPLES / "Evaluate Expression.json").read_text())
    assert workflow["id"] == "Evaluate Expression"
    assert workflow["graph"] == raw["graph"] and workflow["access"] == raw["access"]
    workflow["graph"]["nodes"].clear()
    assert store.get("Evaluate Expression")["graph"]["nodes"]
    assert store.get(FILTER_ID)["name"] == "Filter JSON Data"
    assert store.get("nope") is None


def test_bad_files_are_skipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """WorkflowStore skips files that are not workflows, records why, and logs each change once."""
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "good.json").write_text(_workflow("Good"))
    (folder / "broken.json").write_text("{not json")
    (folder / "nograph.json").write_text(json.dumps({"name": "x", "graph": {"nodes": []}}))
    (folder / "list.json").write_text("[]")
    (folder / "notes.txt").write_text("ignored: not .json")
    store = WorkflowStore([folder])
    caplog.set_level(logging.WARNING, logger="nodetool.gateway.workflows")

    store.scan()
    assert [s["id"] for s in store.list()[0]] == ["good"]
    assert store.errors[folder.resolve() / "broken.json"].startswith("not JSON")
    assert "'nodes' and 'edges'" in store.errors[folder.resolve() / "nograph.json"]
    assert "JSON list" in store.errors[folder.resolve() / "list.json"]
    assert len(caplog.records) == 3

    store.scan()
    assert len(caplog.records) == 3  # unchanged files are not logged again

    (folder / "broken.json").write_text("{still not json")
    store.scan()
    assert len(caplog.records) == 4
    assert "broken.json" in caplog.records[-1].getMessage()

    (folder / "broken.json").write_text(_workflow("Fixed"))
    store.scan()
    assert folder.resolve() / "broken.json" not in store.errors
    assert store.list()[1] == 2


def test_query_and_limit(examples: Path):
    """WorkflowStore.list matches name, description and tags ignoring case, and counts all matches."""
    (examples / "extra.json").write_text(_workflow("Zeta", description="Resize IMAGES", tags=["media"]))
    store = WorkflowStore([examples])
    store.scan()
    assert store.list()[1] == 4
    assert [s["name"] for s in store.list(query="FILTER")[0]] == ["Filter JSON Data"]
    assert [s["name"] for s in store.list(query="images")[0]] == ["Zeta"]
    assert [s["name"] for s in store.list(query="ADVANCED")[0]] == ["Evaluate Expression"]
    page, total = store.list(limit=2)
    assert [s["name"] for s in page] == ["Conditional Logic Engine", "Evaluate Expression"]
    assert total == 4
    assert store.list(query="no such thing") == ([], 0)


def test_user_folder_overrides_bundled(tmp_path: Path):
    """WorkflowStore prefers a user's file over a bundled one with the same id."""
    user = tmp_path / "user"
    user.mkdir()
    (user / "mine.json").write_text(_workflow("My filter", id=FILTER_ID))
    store = WorkflowStore([user], bundled=EXAMPLES)
    store.scan()
    assert store.get(FILTER_ID)["name"] == "My filter"
    assert store.source(FILTER_ID) == user.resolve() / "mine.json"
    assert store.list()[1] == 3
    assert store.get("Evaluate Expression") is not None  # the other bundled ones are there


def test_missing_folders_are_fine(tmp_path: Path):
    """WorkflowStore treats a folder that does not exist as empty."""
    store = WorkflowStore([tmp_path / "nowhere"], bundled=tmp_path / "none either")
    store.scan()
    assert store.list() == ([], 0) and store.errors == {}


async def _start(store: WorkflowStore) -> tuple[asyncio.Task, asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(store.watch(stop, debounce=200, step=20))
    await asyncio.wait_for(store.wait_watching(), 5 * TIME)
    return task, stop


async def _stop(task: asyncio.Task, stop: asyncio.Event) -> None:
    stop.set()
    await asyncio.wait_for(task, 5 * TIME)


async def _until(store: WorkflowStore, check, timeout: float = 10 * TIME) -> None:
    """Wait for rescans until check() holds (a bounded poll on the change event)."""
    async with asyncio.timeout(timeout):
        while not check():
            await store.wait_changed(store.changed)


async def test_watch_follows_added_changed_and_deleted_files(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture):
    """WorkflowStore.watch picks up a new file, a changed file and a deleted file."""
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "one.json").write_text(_workflow("One"))
    (folder / "bad.json").write_text("nope")
    caplog.set_level(logging.WARNING, logger="nodetool.gateway.workflows")
    store = WorkflowStore([folder])
    store.scan()
    task, stop = await _start(store)
    try:
        (folder / "two.json").write_text(_workflow("Two"))
        await _until(store, lambda: store.get("two") is not None)
        assert store.list()[1] == 2
        assert len(caplog.records) == 1  # bad.json: logged by the first scan only

        (folder / "one.json").write_text(_workflow("One, renamed"))
        await _until(store, lambda: store.get("one")["name"] == "One, renamed")

        (folder / "two.json").unlink()
        await _until(store, lambda: store.get("two") is None)
        assert [s["name"] for s in store.list()[0]] == ["One, renamed"]

        (folder / "one.json").write_text("{oops")
        await _until(store, lambda: len(store.errors) == 2)
        assert store.list() == ([], 0)
        assert [r.getMessage().split(":")[0] for r in caplog.records] == [
            str(folder.resolve() / "bad.json"), str(folder.resolve() / "one.json")]
    finally:
        await _stop(task, stop)
    assert task.result() is None


async def test_watch_waits_for_a_missing_folder(tmp_path: Path):
    """WorkflowStore.watch starts following a folder created after it started."""
    folder = tmp_path / "later" / "workflows"
    store = WorkflowStore([folder])
    store.scan()
    task, stop = await _start(store)
    try:
        folder.mkdir(parents=True)
        (folder / "new.json").write_text(_workflow("New"))
        await _until(store, lambda: store.get("new") is not None)
        (folder / "second.json").write_text(_workflow("Second"))
        await _until(store, lambda: store.get("second") is not None)
    finally:
        await _stop(task, stop)


async def test_watch_stops_when_cancelled(tmp_path: Path):
    """WorkflowStore.watch ends promptly when its task is cancelled."""
    store = WorkflowStore([tmp_path])
    task = asyncio.create_task(store.watch())
    await asyncio.wait_for(store.wait_watching(), 5 * TIME)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2 * TIME)
    assert task in done and task.cancelled()


async def test_watch_survives_its_folder_going_away(tmp_path: Path):
    """WorkflowStore.watch drops a deleted folder's workflows and follows it when it returns."""
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "one.json").write_text(_workflow("One"))
    store = WorkflowStore([folder])
    task, stop = await _start(store)
    try:
        assert store.get("one") is not None
        shutil.rmtree(folder)
        await _until(store, lambda: store.get("one") is None)
        folder.mkdir()
        (folder / "back.json").write_text(_workflow("Back"))
        await _until(store, lambda: store.get("back") is not None)
    finally:
        await _stop(task, stop)
