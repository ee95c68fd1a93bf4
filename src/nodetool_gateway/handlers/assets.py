"""Asset commands: files kept under the node's storage folder."""

from __future__ import annotations

import base64
from typing import Any

from ..errors import InvalidArgs, NotFound
from ._args import Offset, UserId, check_user, ignored
from .context import HandlerContext

__all__ = ["list_assets", "get_asset", "INLINE_CONTENT_MAX"]

# get_asset inlines the content (base64) of assets up to this size.
INLINE_CONTENT_MAX = 256 * 1024


async def list_assets(context: HandlerContext, parent_id: str | None = None,
                      content_type: str | None = None, query: str | None = None,
                      limit: int = 100, offset: Offset = 0, source: str = "user",
                      package_name: str | None = None,
                      user_id: UserId = None) -> dict[str, Any]:
    """Assets, filtered by folder, content type or a name query.

    NodeTool's ``source``: ``"user"`` (its default) is the node's assets;
    ``"package"`` (assets shipped in NodeTool packages) is an empty list here, as
    this node has no packages; ``package_name`` only means something with it.
    """
    check_user(context, user_id)
    if source not in ("user", "package"):
        raise InvalidArgs(f"source {source!r} is not one of 'user', 'package'")
    if source == "package":
        context.log.debug("list_assets: source='package': this node has no package assets")
        return {"assets": [], "total": 0}
    if package_name is not None:
        ignored(context, "package_name", package_name, "it applies to source='package' only")
    assets, total = context.backend.assets.list(parent_id=parent_id, content_type=content_type,
                                                query=query, limit=limit, offset=offset)
    return {"assets": assets, "total": total}


async def get_asset(asset_id: str, context: HandlerContext,
                    user_id: UserId = None) -> dict[str, Any]:
    """One asset's metadata, with its content (base64) when small."""
    check_user(context, user_id)
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
