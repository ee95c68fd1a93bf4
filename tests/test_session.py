"""The session against a real gateway peer on loopback: register, heartbeat, route, answer."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest
import sample_handlers
from conftest import TIME, node_config

from nodetool_gateway import GatewayClient
from nodetool_gateway.handlers.builtin import DEFAULT_COMMANDS

pytestmark = pytest.mark.asyncio


async def test_registration_advertises_everything(peer, run_node):
    """Registration lists every enabled command and message type, with metadata."""
    cfg = node_config(peer.url, gateway={"auth": {"token": "tok-123"}},
                      node={"id": "n1", "user_id": "7", "metadata": {"gpu": "none"}},
                      routes={"custom_message": "sample_handlers:custom"},
                      commands={"list_models": None})
    async with run_node(GatewayClient(config=cfg)):
        conn, reg = await peer.registered()
    assert conn.headers["Authorization"] == "Bearer tok-123"
    assert "tok-123" not in conn.path
    assert reg["node_id"] == "n1"
    caps = reg["capabilities"]
    expected = (set(DEFAULT_COMMANDS) - {"list_models"}) | {
        "echo", "add", "gate", "boom", "missing", "value", "sync_add", "stream", "big",
        "unavailable"}
    assert set(caps["commands"]) == expected
    assert "list_models" not in caps["commands"]
    assert set(caps["message_types"]) == {"workflow_request", "custom_message"}
    assert caps["workflow_execution"] is True
    meta = reg["metadata"]
    assert meta["user_id"] == "7" and meta["gpu"] == "none"
    assert meta["version"] and meta["hostname"]
    assert datetime.fromisoformat(reg["timestamp"]).utcoffset() is not None


async def test_heartbeat_cadence(peer, run_node):
    """Heartbeats arrive every heartbeat.interval, from one task."""
    interval = 0.05 * TIME
    cfg = node_config(peer.url, heartbeat={"interval": interval, "timeout": 10 * TIME})
    loop = asyncio.get_running_loop()
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        times = []
        for _ in range(8):
            hb = await conn.recv("heartbeat")
            times.append(loop.time())
            assert hb["node_id"] == "test-node" and hb["status"] == "active"
            assert hb["in_flight"] == 0
    gaps = [b - a for a, b in zip(times, times[1:])]
    # One heartbeat task: the gaps are an interval each, never doubled up.
    assert min(gaps) > interval * 0.5
    assert sum(gaps) / len(gaps) < interval * 3


async def test_command_acked_then_answered(peer, run_node):
    """A command_request gets an ack first, then its command_response."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        rid = await conn.command("add", {"a": 2, "b": 3})
        ack = await conn.recv()
        answer = await conn.recv()
    assert ack["type"] == "ack" and ack["request_id"] == rid
    assert answer == {**answer, "type": "command_response", "request_id": rid,
                      "status": "success", "result": 5}


@pytest.mark.parametrize("value", [[1, 2, 3], "text", None, 3.5, {"nested": [True]}, []])
async def test_results_may_be_any_json(peer, run_node, value):
    """A handler's result may be any JSON value, lists included."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        answer = await conn.call("value", {"v": value})
    assert answer["status"] == "success" and answer["result"] == value


async def test_sync_handler_runs(peer, run_node):
    """A plain function handler runs (in a worker thread) and answers."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        answer = await conn.call("sync_add", {"a": 40, "b": 2})
    assert answer["result"] == 42


async def test_sync_handler_thread_unless_not_blocking(peer, run_node):
    """A plain def runs in a worker thread; with blocking: false, on the event loop."""
    cfg = node_config(peer.url, commands={
        "threaded": "sample_handlers:which_thread",
        "inline": {"handler": "sample_handlers:which_thread", "blocking": False}})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        assert (await conn.call("threaded"))["result"] == "worker"
        assert (await conn.call("inline"))["result"] == "loop"


async def test_streaming_handler_sends_updates(peer, run_node):
    """An async generator handler streams workflow_update frames, then answers."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        rid = await conn.command("stream", {"n": 3})
        frames = []
        while True:
            frame = await conn.recv()
            frames.append(frame)
            if frame["type"] == "command_response":
                break
    updates = [f for f in frames if f["type"] == "workflow_update"]
    assert [u["data"]["progress"] for u in updates] == [1, 2, 3]
    assert all(u["request_id"] == rid and u["update_type"] == "node_progress" for u in updates)
    assert updates[0]["data"]["request_id"] == rid
    assert frames[-1]["result"]["progress"] == 3


@pytest.mark.parametrize("raw, code, rid", [
    ("this is not json", "INVALID_MESSAGE", None),
    ('{"type": "command_request", "request_id": "r-broken", ', "INVALID_MESSAGE", "r-broken"),
    ("[1, 2, 3]", "INVALID_MESSAGE", None),
    ('{"request_id": "r-notype", "command": "echo"}', "INVALID_MESSAGE", "r-notype"),
    ('{"type": "mystery", "request_id": "r-unknown"}', "UNKNOWN_TYPE", "r-unknown"),
    ('{"type": "mystery"}', "UNKNOWN_TYPE", None),
])
async def test_bad_frames_answered_and_session_goes_on(peer, run_node, raw, code, rid):
    """Each bad frame gets an error frame with its code and request id; the session goes on."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.send(raw)
        error = await conn.recv()
        assert error["type"] == "error" and error["code"] == code
        assert error.get("request_id") == rid
        assert error["error"]
        answer = await conn.call("add", {"a": 1, "b": 1})
        assert answer["result"] == 2
        assert len(peer.all_connections) == 1


@pytest.mark.parametrize("command, args, code", [
    ("nope", {}, "UNKNOWN_COMMAND"),
    ("list_models", {}, "UNKNOWN_COMMAND"),
    ("add", {"a": "not a number"}, "INVALID_ARGS"),
    ("add", {"b": 1}, "INVALID_ARGS"),
    ("add", {"a": 1, "extra": 2}, "INVALID_ARGS"),
    ("missing", {"thing": "x"}, "NOT_FOUND"),
    ("boom", {}, "HANDLER_ERROR"),
    ("unavailable", {}, "UNAVAILABLE"),
])
async def test_error_answers_carry_code_and_request_id(peer, run_node, command, args, code):
    """A failing command is answered status=error with a code and its request_id."""
    cfg = node_config(peer.url, commands={"list_models": None})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        rid = await conn.command(command, args)
        answer = await conn.answer_for(rid)
        assert answer["type"] == "command_response"
        assert answer["status"] == "error" and answer["code"] == code
        assert answer["request_id"] == rid and answer["error"]
        assert (await conn.call("add", {"a": 1}))["result"] == 1


async def test_args_must_be_an_object(peer, run_node):
    """A command whose args is not an object is answered INVALID_ARGS."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.send({"type": "command_request", "request_id": "r1", "command": "echo",
                         "args": [1, 2]})
        error = await conn.recv()
    assert error["code"] == "INVALID_ARGS" and error["request_id"] == "r1"


async def test_oversize_frame_answered_too_large(peer, run_node):
    """A frame over gateway.max_message_size is answered TOO_LARGE; the session goes on."""
    cfg = node_config(peer.url, gateway={"max_message_size": 4096})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        await conn.send({"type": "command_request", "request_id": "huge", "command": "echo",
                         "args": {"blob": "y" * 10_000}})
        error = await conn.recv()
        assert error["type"] == "error" and error["code"] == "TOO_LARGE"
        assert error["request_id"] == "huge"
        assert (await conn.call("add", {"a": 2}))["result"] == 2
        # An answer that would be over the limit is an error answer, not a dropped socket.
        answer = await conn.call("big", {"size": 10_000})
        assert answer["status"] == "error" and answer["code"] == "TOO_LARGE"
        assert (await conn.call("add", {"a": 3}))["result"] == 3
    assert len(peer.all_connections) == 1


async def test_route_timeout_answers_and_cancels(peer, run_node):
    """A call past its route's timeout is answered TIMEOUT and its task cancelled."""
    cfg = node_config(peer.url, commands={"gate": {"handler": "sample_handlers:gate",
                                                   "timeout": 0.1 * TIME}})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        answer = await conn.call("gate", {"key": "never"})
    assert answer["code"] == "TIMEOUT" and "timed out" in answer["error"]
    assert sample_handlers.CANCELLED == ["never"]


async def test_timeouts_of_many_calls_each_fire_once(peer, run_node):
    """Calls under one timeout expire in turn, quick ones in between are untouched, and a
    call started after the others expired still has its timeout."""
    cfg = node_config(peer.url, commands={
        "gate": {"handler": "sample_handlers:gate", "timeout": 0.3 * TIME},
        "add": {"handler": "sample_handlers:add", "timeout": 0.3 * TIME}})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        first = await conn.command("gate", {"key": "t1"})
        quick = await conn.call("add", {"a": 1})
        await asyncio.sleep(0.1 * TIME)
        second = await conn.command("gate", {"key": "t2"})
        assert quick["result"] == 1
        for rid in (first, second):
            assert (await conn.answer_for(rid))["code"] == "TIMEOUT"
        late = await conn.call("gate", {"key": "t3"})
        assert late["code"] == "TIMEOUT"
    assert sample_handlers.CANCELLED == ["t1", "t2", "t3"]


async def test_route_concurrency_limit(peer, run_node):
    """A route with concurrency 2 runs at most two calls at once; the rest wait their turn."""
    cfg = node_config(peer.url, commands={"gate": {"handler": "sample_handlers:gate",
                                                   "concurrency": 2}})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        rids = [await conn.command("gate", {"key": "k"}, request_id=f"c{i}") for i in range(6)]
        await sample_handlers.started("k").wait()
        for _ in range(6):
            await conn.recv("ack")
        # Let the queue settle, then open the gate for everyone.
        await asyncio.sleep(0.05 * TIME)
        assert sample_handlers.ACTIVE["now"] == 2
        sample_handlers.gate_for("k").set()
        answers = [await conn.answer_for(r) for r in rids]
    assert all(a["status"] == "success" for a in answers)
    assert sample_handlers.ACTIVE["max"] == 2
    assert sample_handlers.CALLS["k"] == 6


async def test_global_limit_reports_busy(peer, run_node):
    """At limits.max_concurrency the heartbeat says busy, and extra calls wait."""
    cfg = node_config(peer.url, limits={"max_concurrency": 2},
                      heartbeat={"interval": 0.05 * TIME, "timeout": 10 * TIME})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        for i in range(3):
            await conn.command("gate", {"key": "busy"}, request_id=f"b{i}")
        while True:
            hb = await conn.recv("heartbeat")
            if hb["status"] == "busy":
                break
        assert hb["in_flight"] == 2
        assert sample_handlers.ACTIVE["now"] == 2
        sample_handlers.gate_for("busy").set()
        for i in range(3):
            assert (await conn.answer_for(f"b{i}"))["status"] == "success"
        while (await conn.recv("heartbeat"))["status"] != "active":
            pass


async def test_max_pending_answers_busy(peer, run_node):
    """Beyond limits.max_pending a request is answered BUSY at once."""
    cfg = node_config(peer.url, limits={"max_pending": 2})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        await conn.command("gate", {"key": "p"}, request_id="p1")
        await conn.command("gate", {"key": "p"}, request_id="p2")
        answer = await conn.call("add", {"a": 1}, request_id="p3")
        assert answer["code"] == "BUSY"
        sample_handlers.gate_for("p").set()
        await conn.answer_for("p2")
        # BUSY said "try again later": the same request id, retried, now runs.
        again = await conn.call("add", {"a": 1}, request_id="p3")
        assert again["status"] == "success" and again["result"] == 1


async def test_cancel_request_cancels_running_call(peer, run_node):
    """cancel_request stops a running call, answered CANCELLED."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        rid = await conn.command("gate", {"key": "c"})
        await sample_handlers.started("c").wait()
        await conn.send({"type": "cancel_request", "request_id": rid})
        answer = await conn.answer_for(rid)
    assert answer["status"] == "error" and answer["code"] == "CANCELLED"
    assert sample_handlers.CANCELLED == ["c"]


async def test_workflow_request_streams_then_answers(peer, run_node):
    """A workflow_request is acked, streams workflow_update frames, then gets its workflow_response."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.send({"type": "workflow_request", "request_id": "w1",
                         "workflow_id": "Evaluate Expression", "params": {},
                         "user_id": "1"})
        ack = await conn.recv()
        frames = []
        while True:
            frame = await conn.recv()
            frames.append(frame)
            if frame["type"] == "workflow_response":
                break
    assert ack["type"] == "ack" and ack["request_id"] == "w1"
    answer = frames[-1]
    assert answer["status"] == "completed" and answer["request_id"] == "w1"
    assert answer["result"]["outputs"] == {}  # the example only previews its result
    updates = frames[:-1]
    assert [u["data"]["value"] for u in updates if u["update_type"] == "preview_update"] == [89.6]
    assert updates and all(u["type"] == "workflow_update" for u in updates)
    assert all(u["job_id"] == answer["job_id"] and u["job_id"] for u in updates)
    kinds = [u["update_type"] for u in updates]
    assert kinds[0] == "job_update" and kinds[-1] == "job_update"
    assert "node_update" in kinds and "preview_update" in kinds
    assert updates[-1]["data"]["status"] == "completed"


async def test_failed_workflow_request_is_failed(peer, run_node):
    """A workflow_request for a missing workflow is answered failed with NOT_FOUND."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.send({"type": "workflow_request", "request_id": "w2", "workflow_id": "nope"})
        answer = await conn.answer_for("w2")
    assert answer["type"] == "workflow_response" and answer["status"] == "failed"
    assert answer["code"] == "NOT_FOUND"


async def test_custom_message_route(peer, run_node):
    """A message type routed in the config reaches its handler with the frame's fields."""
    cfg = node_config(peer.url, routes={"custom_message": "sample_handlers:custom"})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        await conn.send({"type": "custom_message", "request_id": "m1", "text": "hi", "n": 1})
        answer = await conn.recv()
    assert answer["type"] == "command_response" and answer["request_id"] == "m1"
    assert answer["result"] == {"got": "hi", "rest": {"n": 1}}


async def test_wrong_credentials_stop_the_node(run_node):
    """HTTP 401 at the upgrade stops the node with AuthRefused instead of retrying."""
    from conftest import GatewayPeer

    from nodetool_gateway.errors import AuthRefused

    gw = await GatewayPeer(reject_status=401).start()
    try:
        client = GatewayClient(config=node_config(gw.url, gateway={"auth": {"token": "bad"}}))
        with pytest.raises(AuthRefused, match="refused the node's credentials"):
            await asyncio.wait_for(client.run(), 5 * TIME)
        assert gw.attempts == 1
    finally:
        await gw.stop()


async def test_retries_exhausted_is_fatal():
    """With retry.max_attempts, an unreachable gateway ends the run with FatalError."""
    from nodetool_gateway.errors import FatalError

    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = node_config(f"ws://127.0.0.1:{port}", retry={"max_attempts": 2, "initial_delay": 0.01})
    client = GatewayClient(config=cfg)
    with pytest.raises(FatalError, match="after 2 attempts"):
        await asyncio.wait_for(client.run(), 5 * TIME)


async def test_timestamps_are_iso_with_offset(peer, run_node):
    """Every frame the node sends has an ISO 8601 timestamp with a UTC offset."""
    cfg = node_config(peer.url, heartbeat={"interval": 0.02 * TIME, "timeout": 10 * TIME})
    async with run_node(GatewayClient(config=cfg)):
        conn, _ = await peer.registered()
        await conn.call("add", {"a": 1})
        await conn.recv("heartbeat")
    for frame in conn.received:
        assert datetime.fromisoformat(frame["timestamp"]).utcoffset() is not None, frame
    assert {f["type"] for f in conn.received} >= {"node_registration", "ack", "command_response",
                                                 "heartbeat"}
    json.dumps(conn.received)


async def test_the_backend_is_built_after_registration_before_any_command(peer, run_node):
    """The stores and engine are built once the node registers, off its loop: the first
    command finds them ready (it used to build them, ~0.25 s of CPU, while answering)."""
    client = GatewayClient(config=node_config(peer.url))
    async with run_node(client):
        conn, _ = await peer.registered()
        for _ in range(200):
            if client._backend is not None:
                break
            await asyncio.sleep(0.05)
        built = client._backend
        assert built is not None, "no backend 10 s after registration"
        answer = await conn.call("list_workflows", {})
        assert answer["status"] == "success", answer
        assert client._backend is built


async def test_commands_that_come_while_the_backend_is_built_share_that_build(
        peer, run_node, tmp_path):
    """Commands sent the moment the node registers wait for the backend being built
    ahead instead of building a second one on the same database (which failed them
    with 'database is locked'). Two thousand workflow files to read make the build
    long enough for the commands to arrive during it."""
    folder = tmp_path / "workflows"
    folder.mkdir()
    for i in range(2000):
        (folder / f"w{i}.json").write_text(json.dumps(
            {"id": f"w{i}", "name": f"W {i}", "graph": {"nodes": [], "edges": []}}))
    for _ in range(3):
        client = GatewayClient(config=node_config(peer.url, workflows={"paths": [str(folder)]}))
        async with run_node(client):
            conn, _ = await peer.registered()
            await conn.send({"type": "workflow_request", "request_id": "w", "workflow_id": "nope"})
            rids = [await conn.command("list_jobs", {}) for _ in range(3)]
            answer = await conn.answer_for("w")
            assert answer["status"] == "failed" and answer["code"] == "NOT_FOUND", answer
            for rid in rids:
                listed = await conn.answer_for(rid)
                assert listed["status"] == "success", listed
            built = client._backend
            assert built is not None
        assert client._backend is None or client._backend is built


async def test_workflow_request_for_another_user_is_refused(peer, run_node):
    """user_id is treated as on every command: another user than node.user_id is refused."""
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.send({"type": "workflow_request", "request_id": "w3",
                         "workflow_id": "Evaluate Expression", "params": {},
                         "user_id": "someone-else"})
        answer = await conn.answer_for("w3")
    assert answer["type"] == "workflow_response" and answer["status"] == "failed"
    assert answer["code"] == "INVALID_ARGS"
    assert "this node serves user 1; user_id someone-else is not its user" in answer["error"]
