"""Asset commands: files kept under the node's storage folder."""

from __future__ import annotations

from typing import Any

from ._backend import unavailable

__all__ = ["list_assets", "get_asset"]


async def list_assets(parent_id: str | None = None, content_type: str | None = None,
                      query: str | None = None, limit: int = 100) -> Any:
    raise unavailable("list_assets")


async def get_asset(asset_id: str) -> Any:
    raise unavailable("get_asset")
