"""What a handler may ask of the node while it runs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable

if TYPE_CHECKING:
    from ..backend import Backend
    from ..config import Config

__all__ = ["HandlerContext"]


class HandlerContext:
    """Passed to a handler that declares a ``context`` parameter.

    It carries the request id, a logger, the node's identity and config, and
    :meth:`send_update` to stream progress back to the gateway while the
    handler runs. Handlers don't know which protocol carried the request.
    """

    __slots__ = ("request_id", "name", "kind", "node_id", "user_id", "config", "log",
                 "job_id", "_send_update", "_backend")

    def __init__(self, *, request_id: str | None, name: str, kind: str, node_id: str,
                 user_id: str, config: "Config | None", log: logging.Logger,
                 send_update: Callable[[str, Any], Awaitable[None]],
                 backend: "Callable[[], Backend] | None" = None):
        self.request_id = request_id
        self.name = name
        self.kind = kind
        self.node_id = node_id
        self.user_id = user_id
        self.config = config
        self.log = log
        self.job_id: str | None = None
        self._send_update = send_update
        self._backend = backend

    @property
    def backend(self) -> "Backend":
        """The node's stores and workflow engine (built on first use)."""
        if self._backend is None:
            from ..errors import Unavailable

            raise Unavailable("this node has no backend")
        return self._backend()

    async def send_update(self, update_type: str, data: Any) -> None:
        """Stream one update (``workflow_update``) for this request to the gateway."""
        await self._send_update(update_type, data)

    async def progress(self, progress: float, total: float | None = None, **extra: Any) -> None:
        """Report progress of a long call (``node_progress`` update)."""
        await self._send_update("node_progress", {"progress": progress, "total": total, **extra})
