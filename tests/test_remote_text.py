"""Text from the other side, and the gateway URL, as the node's log shows them.

A gateway's error text or close reason cannot forge a log line (control characters are
escaped), and a password in the URL's userinfo never reaches the log.
"""

from __future__ import annotations

import logging

from conftest import node_config

from nodetool_gateway import GatewayClient
from nodetool_gateway.logs import printable


async def test_remote_text_cannot_forge_log_lines(peer, run_node, caplog):
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    async with run_node(GatewayClient(config=node_config(peer.url))):
        conn, _ = await peer.registered()
        await conn.send({"type": "error", "error": "bad\nERROR nodetool.gateway: forged"})
        assert (await conn.call("add", {"a": 1}))["result"] == 1  # read after the error
        await conn.ws.close(1000, "bye\r\nINFO forged \x1b[2J")
        await peer.registered()
    messages = [r.getMessage() for r in caplog.records]
    assert any("bad\\x0aERROR nodetool.gateway: forged" in m for m in messages)
    assert any("bye\\x0d\\x0aINFO forged \\x1b[2J" in m for m in messages)
    assert not any("\n" in m or "\r" in m or "\x1b" in m for m in messages)


async def test_userinfo_in_the_url_is_not_logged(peer, run_node, caplog):
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    url = peer.url.replace("ws://", "ws://someone:hunter2@")
    async with run_node(GatewayClient(config=node_config(url))):
        await peer.registered()
    assert f"registered with {peer.url}" in caplog.text
    assert "hunter2" not in caplog.text and "someone" not in caplog.text


def test_printable_escapes_controls_and_keeps_text():
    assert printable("zürich 東京 ok") == "zürich 東京 ok"
    assert printable("a\tb\u202ec\x7f") == "a\\x09b\\u202ec\\x7f"
    assert printable("x" * 500, 10) == "x" * 10 + "..."
