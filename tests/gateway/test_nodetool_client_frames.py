"""NodeTool's own gateway client, replayed: the URLs it joins with and the registration it
sends (``tests/data/nodetool-client-frames``, recorded from its unmerged reference client).

It sends its token only as ``?token=`` in the URL, raw (``a+b&c=d`` is not encoded) and
after a second ``?`` when the URL already has a query. A gateway started with
``allow_query_token`` (``serve --allow-query-token``) admits it in each of those forms.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect

from nodetool_gateway.gateway import LocalGateway

from .gateway_fakes import refused_status

FRAMES = Path(__file__).resolve().parent.parent / "data" / "nodetool-client-frames"


def recorded(name: str) -> tuple[str, str, str | None]:
    """The URL a recording joined with (its host and port dropped), its token, and the
    registration frame it sent (None if it never got in)."""
    lines = [json.loads(line) for line in (FRAMES / name).read_text().splitlines() if line]
    url = next(f["url"] for f in lines if f.get("event") == "connect_attempt")
    rest = url[len("ws://") + len(urlsplit(url).netloc):]
    token = url[url.rindex("token=") + len("token="):]
    registration = next((f["text"] for f in lines if f["dir"] == "out"
                         and json.loads(f["text"]).get("type") == "node_registration"), None)
    return rest, token, registration


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ["C_frames_q.jsonl", "C_frames_u.jsonl", "C_frames_s.jsonl"])
async def test_nodetool_client_joins_with_its_query_token(name, caplog):
    """Each URL form NodeTool's client uses gets in with the right token, and not
    with a wrong one nor without allow_query_token; the token never reaches a log."""
    caplog.set_level(logging.DEBUG)
    rest, token, registration = recorded(name)
    assert "token=" in rest
    async with LocalGateway(auth_token=token) as strict:
        assert await refused_status(strict.url + rest) == 401
    async with LocalGateway(auth_token=token + "x", allow_query_token=True) as other:
        assert await refused_status(other.url + rest) == 401
    async with LocalGateway(auth_token=token, allow_query_token=True) as gateway:
        async with connect(gateway.url + rest) as ws:
            await ws.send(registration or json.dumps(
                {"type": "node_registration", "node_id": "nodetool-client",
                 "capabilities": {"commands": ["list_workflows"]}, "metadata": {"user_id": "1"}}))
            node_id = json.loads(registration)["node_id"] if registration else "nodetool-client"
            info = await gateway.wait_for_node(node_id, timeout=10)
            assert info.node_id == node_id
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("nodetool")]
    assert ours and not any(token in m for m in ours)


def test_serve_allows_query_tokens_on_loopback_only(tmp_path):
    """--allow-query-token: refused on a non-loopback host (plain ws:// would carry the
    token in the clear) and without a token to check."""
    token_file = tmp_path / "token"
    token_file.write_text("dev-token\n")
    base = [sys.executable, "-m", "nodetool_gateway", "serve", "--allow-query-token"]
    wide = subprocess.run([*base, "--host", "0.0.0.0", "--auth-token-file", str(token_file)],
                          capture_output=True, text=True, timeout=30)
    assert wide.returncode == 2 and "loopback --host" in wide.stderr
    bare = subprocess.run([*base, "--insecure-no-auth"], capture_output=True, text=True,
                          timeout=30)
    assert bare.returncode == 2 and "needs a token" in bare.stderr


FINAL = {"command_response", "workflow_response", "error"}


@pytest.mark.asyncio
async def test_a_node_speaking_as_nodetool_s_client_is_relayed_frame_for_frame():
    """Replays NodeTool's client's whole recorded session (A_frames) as the node, with an
    operator sending the recorded requests: the registration and heartbeats (timestamps
    without an offset) are taken, every answer reaches the operator byte for byte, and
    each error it sent without a request_id fails the one request then in flight."""
    frames = [json.loads(line) for line in (FRAMES / "A_frames.jsonl").read_text().splitlines()]
    async with LocalGateway() as gateway:
        async with connect(gateway.url) as node, connect(gateway.operator_url) as op:
            relayed = errors = 0
            pending: str | None = None
            for frame in frames:
                if frame["dir"] == "out":
                    sent = json.loads(frame["text"])
                    await node.send(frame["text"])
                    if sent["type"] == "node_registration":
                        await gateway.wait_for_node(sent["node_id"], timeout=10)
                    if pending is not None and sent["type"] in FINAL and \
                            sent.get("request_id") in (pending, None):
                        async with asyncio.timeout(10):
                            while True:
                                got = await op.recv()
                                answer = json.loads(got)
                                if answer.get("request_id") == pending and answer["type"] in FINAL:
                                    break
                        if sent.get("request_id") == pending:
                            assert got == frame["text"]  # relayed as the node wrote it
                            relayed += 1
                        else:
                            assert answer["type"] == "error" and answer["code"] == "NODE_ERROR"
                            assert sent["error"] in answer["error"]
                            errors += 1
                        pending = None
                elif frame["dir"] == "in":
                    request = json.loads(frame["text"])
                    if request["type"] not in ("command_request", "workflow_request"):
                        continue
                    assert pending is None
                    await op.send(frame["text"])
                    async with asyncio.timeout(10):
                        forwarded = json.loads(await node.recv())
                    assert forwarded["request_id"] == request["request_id"]
                    assert "node_id" not in forwarded  # the operator's routing field
                    pending = request["request_id"]
            info = gateway.nodes["anchor-node"]
            assert info.last_heartbeat is not None and info.status == "active"
            assert relayed >= 16 and errors >= 1
