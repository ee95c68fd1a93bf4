"""NodeTool's own gateway client, replayed: the URLs it joins with and the registration it
sends (``tests/data/nodetool-client-frames``, recorded from its unmerged reference client).

It sends its token only as ``?token=`` in the URL, raw (``a+b&c=d`` is not encoded) and
after a second ``?`` when the URL already has a query. A gateway started with
``allow_query_token`` (``serve --allow-query-token``) admits it in each of those forms.
"""

from __future__ import annotations

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
