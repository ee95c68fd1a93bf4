"""Asset commands: files kept under the node's storage folder."""

from __future__ import annotations

import base64
from typing import Any

from ..errors import NotFound
from ._args import Offset
from .context import HandlerContext

__all__ = ["list_assets", "get_asset", "INLINE_CONTENT_MAX"]

# get_asset inlines the content (base64) of assets up to this size.
INLINE_CONTENT_MAX = 256 * 1024


async def list_assets(context: HandlerContext, parent_id: str | None = None,
                      content_type: str | None = None, query: str | None = None,
                      limit: int = 100, offset: Offset = 0) -> dict[str, Any]:
    """Assets, filtered by folder, content type or a name query."""
    assets, total = context.backend.assets.list(parent_id=parent_id, content_type=content_type,
                                                query=query, limit=limit, offset=offset)
    return {"assets": assets, "total": total}


async def get_asset(asset_id: str, context: HandlerContext) -> dict[str, Any]:
    """One asset's metadata, with its content (base64) when small."""
    store = context.backend.assets
    asset = store.get(asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id!r}; list_assets shows what this node has")
    result = dict(asset)
    if asset.get("content_type") != "folder":
        content = store.read(asset_id, INLINE_CONTENT_MAX)
        if content is not None:
            result["content"] = base64.b64encode(content).decode("ascii")
    return result
