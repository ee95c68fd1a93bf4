"""What the built-in commands act on: SQLite, files, the model caches, ChromaDB.

The stores know nothing about the engine or the gateway. Their methods are
synchronous: small ones are fine on the event loop, the ones that scan disks
or talk to other services belong in ``asyncio.to_thread``.
"""

from __future__ import annotations

from .assets import AssetStore
from .collections import CollectionStore
from .database import Database
from .errors import StoreUnavailable
from .jobs import JobStore
from .models import ModelStore
from .workflows import WorkflowStore

__all__ = [
    "AssetStore",
    "CollectionStore",
    "Database",
    "JobStore",
    "ModelStore",
    "StoreUnavailable",
    "WorkflowStore",
]
