"""nodetool-gateway: a YAML-declared node runner for NodeTool and OpenClaw gateways."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.2.0"

__all__ = ["GatewayClient", "HandlerContext", "HandlerError", "__version__"]

if TYPE_CHECKING:
    from .errors import HandlerError
    from .handlers.context import HandlerContext
    from .session import GatewayClient


def __getattr__(name: str):
    # Lazy, so `nodetool-gateway --help` and `validate` don't import the session stack.
    if name == "GatewayClient":
        from .session import GatewayClient

        return GatewayClient
    if name == "HandlerContext":
        from .handlers.context import HandlerContext

        return HandlerContext
    if name == "HandlerError":
        from .errors import HandlerError

        return HandlerError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
