"""Model commands: models available on this machine."""

from __future__ import annotations

from typing import Any

from ._backend import unavailable

__all__ = ["list_models"]


async def list_models(provider: str | None = None, model_type: str | None = None,
                      limit: int = 100) -> Any:
    raise unavailable("list_models")
