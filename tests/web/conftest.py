"""Fixtures of the web node type tests."""

from __future__ import annotations

import pytest

from web.server import WebServer


@pytest.fixture
def web():
    """A loopback HTTP server serving the pages, files, feed and PDF of ``server.py``."""
    with WebServer() as server:
        yield server
