"""wss:// with a private certificate authority, and mutual TLS, using trustme."""

from __future__ import annotations

import asyncio
import logging
import ssl

import pytest
import trustme
from conftest import GatewayPeer, node_config

from nodetool_gateway import GatewayClient

pytestmark = pytest.mark.asyncio


@pytest.fixture
def ca():
    return trustme.CA()


@pytest.fixture
def files(tmp_path, ca):
    """The CA certificate and a client certificate and key, as files a config names."""
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(ca_file)
    client = ca.issue_cert("node.example")
    cert_file, key_file = tmp_path / "node.crt", tmp_path / "node.key"
    for blob in client.cert_chain_pems:
        blob.write_to_path(cert_file, append=True)
    client.private_key_pem.write_to_path(key_file)
    return {"ca_file": str(ca_file), "cert_file": str(cert_file), "key_file": str(key_file)}


def server_context(ca: trustme.CA, require_client_cert: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(ctx)
    return ctx


async def test_wss_with_certificate_authority(ca, files, run_node):
    """The node verifies the gateway's certificate against gateway.tls.ca_file."""
    gw = await GatewayPeer(ssl=server_context(ca, False)).start()
    try:
        cfg = node_config(gw.url, gateway={"tls": {"ca_file": files["ca_file"]}})
        async with run_node(GatewayClient(config=cfg)):
            conn, reg = await gw.registered()
            assert reg["node_id"] == "test-node"
            assert (await conn.call("add", {"a": 20, "b": 22}))["result"] == 42
    finally:
        await gw.stop()


async def test_wss_unknown_authority_is_refused(ca, run_node, caplog):
    """Without the CA the node refuses the gateway's certificate and never registers."""
    caplog.set_level(logging.WARNING, logger="nodetool.gateway")
    gw = await GatewayPeer(ssl=server_context(ca, False)).start()
    try:
        async with run_node(GatewayClient(config=node_config(gw.url))):
            while "CERTIFICATE_VERIFY_FAILED" not in caplog.text:
                await asyncio.sleep(0.01)
        assert gw.all_connections == []
    finally:
        await gw.stop()


async def test_mutual_tls(ca, files, run_node):
    """With cert_file and key_file the node passes a gateway that requires client certificates."""
    gw = await GatewayPeer(ssl=server_context(ca, True)).start()
    try:
        cfg = node_config(gw.url, gateway={"tls": files})
        async with run_node(GatewayClient(config=cfg)):
            conn, _ = await gw.registered()
            peer_cert = conn.ws.transport.get_extra_info("peercert")
            assert peer_cert is not None
            assert ("DNS", "node.example") in peer_cert["subjectAltName"]
    finally:
        await gw.stop()


async def test_mutual_tls_without_client_cert_fails(ca, files, run_node, caplog):
    """A gateway that requires a client certificate turns away a node without one."""
    caplog.set_level(logging.WARNING, logger="nodetool.gateway")
    gw = await GatewayPeer(ssl=server_context(ca, True)).start()
    try:
        cfg = node_config(gw.url, gateway={"tls": {"ca_file": files["ca_file"]}})
        async with run_node(GatewayClient(config=cfg)) as client:
            while "cannot reach gateway" not in caplog.text:
                await asyncio.sleep(0.01)
            assert client.registrations == 0
    finally:
        await gw.stop()
