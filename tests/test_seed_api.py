"""The seed's Python API: NodeTool's own examples, with only the import line changed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from unittest.mock import AsyncMock

import pytest
from conftest import TIME

from nodetool_gateway import GatewayClient

# --- NodeTool's basic client example (examples/gateway_client/README.md), import changed ---


async def main():
    # Create the client
    client = GatewayClient(
        gateway_url="ws://gateway.example.com:8080",
        node_id="my-node",
        auth_token="your-token",
        user_id="1",
        heartbeat_interval=30.0,
    )

    # Run the client (blocks until disconnected)
    await client.run()


# --- NodeTool's custom client example (examples/gateway_client/README.md), import changed ---


class CustomGatewayClient(GatewayClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Add custom handlers
        self._handlers["custom_message"] = self._handle_custom_message

    async def _handle_custom_message(self, data: dict[str, Any]):
        # Handle custom message type
        self.log.info(f"Received custom message: {data}")
        # Process the message...
        self.received = data


# --- NodeTool's test snippet, verbatim but for the import ---


@pytest.mark.asyncio
async def test_gateway_client():
    client = GatewayClient(gateway_url="ws://localhost:8080")

    # Mock the websocket
    client.websocket = AsyncMock()
    client.connected = True

    # Test registration
    await client._send_registration()
    assert client.websocket.send.called


# --- The same API against a real gateway on loopback ---


@pytest.mark.asyncio
async def test_basic_client_runs_and_registers(peer):
    """The basic example's constructor arguments join a gateway and register."""
    client = GatewayClient(
        gateway_url=peer.url,
        node_id="my-node",
        auth_token="your-token",
        user_id="1",
        heartbeat_interval=30.0,
    )
    assert client.log.name == "nodetool.gateway.client"
    node = asyncio.create_task(client.run())
    try:
        conn, reg = await peer.registered()
        assert reg["node_id"] == "my-node" and reg["metadata"]["user_id"] == "1"
        assert conn.headers["Authorization"] == "Bearer your-token"
        assert client.connected and client.websocket is not None
    finally:
        client.stop()
        await asyncio.wait_for(node, 5 * TIME)
    assert not client.connected


@pytest.mark.asyncio
async def test_custom_client_handles_custom_message(peer, caplog):
    """The subclass's _handlers entry advertises and handles its message type."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway.client")
    client = CustomGatewayClient(gateway_url=peer.url)
    node = asyncio.create_task(client.run())
    try:
        conn, reg = await peer.registered()
        assert "custom_message" in reg["capabilities"]["message_types"]
        await conn.send({"type": "custom_message", "request_id": "c1", "payload": 42})
        answer = await conn.answer_for("c1")
    finally:
        client.stop()
        await asyncio.wait_for(node, 5 * TIME)
    assert answer["status"] == "success"
    assert client.received["payload"] == 42
    assert "Received custom message" in caplog.text


def test_environment_variables_fill_in(monkeypatch):
    """GATEWAY_URL, GATEWAY_AUTH_TOKEN, GATEWAY_NODE_ID and GATEWAY_USER_ID are the defaults."""
    monkeypatch.setenv("GATEWAY_URL", "ws://127.0.0.1:9999/gw")
    monkeypatch.setenv("GATEWAY_AUTH_TOKEN", "env-token")
    monkeypatch.setenv("GATEWAY_NODE_ID", "env-node")
    monkeypatch.setenv("GATEWAY_USER_ID", "42")
    client = GatewayClient()
    cfg = client.config
    assert cfg.gateway.url == "ws://127.0.0.1:9999/gw"
    assert cfg.gateway.token() == "env-token"
    assert cfg.node.id == "env-node" and cfg.node.user_id == "42"
    assert "env-token" not in repr(cfg)
    # Explicit arguments win over the environment.
    assert GatewayClient(gateway_url="ws://127.0.0.1:1", node_id="x").node_id == "x"


@pytest.mark.asyncio
async def test_basic_example_refuses_plain_ws_to_a_remote_host():
    """The basic example, verbatim, is refused: its token would cross the network in clear."""
    from nodetool_gateway.config import ConfigError

    with pytest.raises(ConfigError, match="use wss:// or set gateway.allow_insecure"):
        await main()


def test_remote_ws_url_is_refused():
    """A plain ws:// URL to a host that is not loopback is refused."""
    from nodetool_gateway.config import ConfigError

    with pytest.raises(ConfigError, match="allow_insecure"):
        GatewayClient(gateway_url="ws://gateway.example.com:8080")


def test_allow_insecure_reaches_a_remote_ws_gateway():
    """The seed's own example uses ws://gateway.example.com:8080: the refusal says how to
    allow it, and GatewayClient(allow_insecure=True) and `connect --allow-insecure` do."""
    from click.testing import CliRunner

    from nodetool_gateway.cli import cli
    from nodetool_gateway.config import ConfigError

    url = "ws://gateway.example.com:8080"
    with pytest.raises(ConfigError) as caught:
        GatewayClient(url)
    assert "allow_insecure=True" in str(caught.value.problems[0])
    client = GatewayClient(url, allow_insecure=True)
    assert client._snapshot.config.gateway.allow_insecure
    refused = CliRunner().invoke(cli, ["connect", "--url", url])
    assert refused.exit_code == 78 and "--allow-insecure" in refused.output
