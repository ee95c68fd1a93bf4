"""Where jobs are recorded, and jobs the node cannot record (a full disk) answered as such."""

from __future__ import annotations

import logging

import pytest
from conftest import TIME, node_config, serving
from stores.test_jobs import fill_up

pytestmark = pytest.mark.asyncio

GRAPH = {
    "nodes": [
        {"id": "a", "type": "nodetool.constant.Integer", "data": {"value": 6}},
        {"id": "out", "type": "nodetool.output.Output", "data": {"name": "v"}},
    ],
    "edges": [{"source": "a", "sourceHandle": "output", "target": "out", "targetHandle": "value"}],
}


async def test_run_on_a_full_disk_says_the_job_was_not_recorded(tmp_path, caplog):
    """A run whose job the full database refuses answers record_error; get_job still knows it."""
    caplog.set_level(logging.INFO, logger="nodetool")
    cfg = node_config("ws://127.0.0.1:1", storage={"path": str(tmp_path / "storage")})
    async with serving(cfg) as (op, client):
        backend = client._get_backend()
        # Small filler rows: a real job's row is bigger than the room they leave.
        fill_up(backend.db, backend.jobs, {})
        caplog.clear()
        answer = await op.call("run_workflow", {"graph": GRAPH}, timeout=30 * TIME)
        assert answer["status"] == "success", answer
        result = answer["result"]
        assert result["outputs"] == {"v": [6]}
        assert result["record_error"].startswith("not recorded: database or disk is full")
        job = (await op.call("get_job", {"job_id": result["job_id"]}, timeout=10 * TIME))["result"]
        assert job["status"] == "completed" and job["record_error"] == result["record_error"]
        logs = (await op.call("get_job_logs", {"job_id": result["job_id"]}, timeout=10 * TIME))
        assert logs["result"]["logs"][-1]["content"] == "job completed"
    # One line per refused write, from the store; nothing else about it, and no traceback.
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING
                and r.name in ("nodetool.gateway.jobs", "nodetool.gateway.backend")]
    assert [r.name for r in failures] == ["nodetool.gateway.jobs"] * 2  # the start, the end
    for record in failures:
        assert record.exc_info is None and "\n" not in record.getMessage()
        assert "database or disk is full" in record.getMessage()


async def test_old_shared_storage_is_kept_and_named(tmp_path, monkeypatch, caplog):
    """A database in the old shared folder is used as it is, and one INFO line says how to split."""
    from nodetool_gateway.backend import Backend
    from nodetool_gateway.config import default_config
    from nodetool_gateway.stores import Database, JobStore

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    root = tmp_path / ".local/share/nodetool-gateway"
    with Database(root / "nodetool-gateway.db") as db:
        JobStore(db, node_id="other-box").create("theirs", "wf", {}, "u")
    caplog.set_level(logging.INFO, logger="nodetool.gateway.backend")
    backend = Backend(default_config(node={"id": "old-box"}, workflows={"paths": []}))
    try:
        assert backend.storage == root
        assert backend.jobs.get("theirs")["status"] == "running"  # another node's: left alone
    finally:
        await backend.close()
    (note,) = [r.getMessage() for r in caplog.records if "storage:" in r.getMessage()]
    assert str(root / "nodes" / "old-box") in note
