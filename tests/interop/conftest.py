"""Interop fixtures: one real OpenClaw gateway for the whole session.

The first interop test installs the gateway (scripts/install-openclaw.sh, ~30 s
on a cold cache) and starts it (~10 s); later tests reuse it. Tests that need
their own gateway (restart, special config) build an ``OpenClawGateway`` in
``tmp_path`` and stop it themselves. Interop tests run in the session's event
loop (``pytest.mark.asyncio(loop_scope="session")``), where the gateway lives.
Set ``NODETOOL_GATEWAY_INTEROP=0`` to skip them (offline machines).
"""

from __future__ import annotations

import os

import pytest
import pytest_asyncio

from interop.openclaw import OpenClawGateway

# Install (cold) + start + the test itself: more than the suite's 60 s default.
INTEROP_TIMEOUT = 300


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "interop: runs against a real OpenClaw gateway (installed on first use)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = os.environ.get("NODETOOL_GATEWAY_INTEROP", "1") == "0"
    for item in items:
        if item.get_closest_marker("interop") is None:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(INTEROP_TIMEOUT))
        if skip:
            item.add_marker(pytest.mark.skip(reason="NODETOOL_GATEWAY_INTEROP=0"))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gateway(tmp_path_factory: pytest.TempPathFactory):
    """A started gateway shared by the session (default allow list, loopback pairing)."""
    gw = OpenClawGateway(tmp_path_factory.mktemp("openclaw"))
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def operator(gateway: OpenClawGateway):
    """A connected ``Operator`` on the session gateway, closed after the test."""
    op = await gateway.operator()
    try:
        yield op
    finally:
        await op.close()
