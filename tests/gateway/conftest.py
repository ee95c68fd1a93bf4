"""Fixtures for the local gateway's tests: a gateway, fake nodes, an operator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from .gateway_fakes import TIMEOUT, FakeNode, NodeFactory

from nodetool_gateway.gateway import LocalGateway, OperatorClient


@pytest_asyncio.fixture
async def gateway() -> AsyncIterator[LocalGateway]:
    async with LocalGateway(record=True) as gw:
        yield gw


@pytest_asyncio.fixture
async def start_node(gateway: LocalGateway) -> AsyncIterator[NodeFactory]:
    nodes: list[FakeNode] = []

    async def start(node_id: str = "node-a", **kwargs: Any) -> FakeNode:
        node = await FakeNode(gateway.url, node_id, **kwargs).start()
        nodes.append(node)
        await gateway.wait_for_node(node_id, timeout=TIMEOUT)
        return node

    yield start
    for node in nodes:
        await node.close()


@pytest_asyncio.fixture
async def operator(gateway: LocalGateway) -> AsyncIterator[OperatorClient]:
    async with OperatorClient.connect(gateway.operator_url) as op:
        yield op
