"""Language-model fixtures: one real llama-server for the session (built on first use).

Set ``NODETOOL_GATEWAY_LLM=0`` to skip these tests (a machine that cannot build it).
"""

from __future__ import annotations

import os

import pytest

from llm.llama import MODEL_ALIAS, LlamaServer

# A cold cache builds llama-server first (about 7 minutes on 2 cores).
LLM_TIMEOUT = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = os.environ.get("NODETOOL_GATEWAY_LLM", "1") == "0"
    for item in items:
        if "tests/llm/" not in str(item.fspath).replace(os.sep, "/"):
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LLM_TIMEOUT))
        if skip:
            item.add_marker(pytest.mark.skip(reason="NODETOOL_GATEWAY_LLM=0"))


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory):
    """A llama-server with SmolLM2 shared by the session (OpenAI and Anthropic APIs)."""
    server = LlamaServer(log=tmp_path_factory.mktemp("llama") / "server.log").start()
    try:
        yield server
    finally:
        server.stop()


def providers_for(server: LlamaServer, **extra) -> dict:
    """A ``providers:`` section with one provider of each type, all on ``server``."""
    return {
        "llama": {"type": "openai", "base_url": f"{server.url}/v1", **extra},
        "claude": {"type": "anthropic", "base_url": server.url, **extra},
        # NodeTool's example workflows name OpenAI models; serve them all locally.
        "openai": {"base_url": f"{server.url}/v1", "aliases": {"*": MODEL_ALIAS}, **extra},
    }
