"""Vector collections in ChromaDB's embedded, persistent store (optional extra).

Only names, metadata and counts are read: no embedding function is ever
loaded (it would download a model) and telemetry is off, so nothing here
reaches the network.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from .errors import StoreUnavailable

__all__ = ["CollectionStore", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'nodetool-gateway[chroma]'"


def _chromadb() -> Any:
    """The chromadb module, or StoreUnavailable saying how to install it."""
    try:
        import chromadb
    except ImportError as exc:
        raise StoreUnavailable(
            f"collections need ChromaDB, which is not installed ({exc}); "
            f"install it with: {INSTALL_HINT}") from None
    return chromadb


class CollectionStore:
    """Collections in the ChromaDB store at ``path`` (opened on first use).

    A store that does not exist yet lists as empty and is not created.
    """

    def __init__(self, path: Path):
        self.path = Path(path).expanduser()
        self._client: Any = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        """Whether ChromaDB can be imported (importing it takes about a second the first time)."""
        try:
            _chromadb()
        except StoreUnavailable:
            return False
        return True

    def list(self, limit: int = 100) -> dict[str, Any]:
        """``{"collections": [{name, metadata, count}], "count": N}``; N counts them all."""
        client = self._open()
        if client is None:
            return {"collections": [], "count": 0}
        limit = max(0, int(limit))
        found = client.list_collections(limit=limit) if limit else []
        # chromadb 0.6 listed names only; 1.x lists Collection objects.
        found = [client.get_collection(c, embedding_function=None) if isinstance(c, str) else c
                 for c in found]
        return {"collections": [_describe(c) for c in found], "count": client.count_collections()}

    def get(self, name: str) -> dict[str, Any] | None:
        """``{name, metadata, count}`` of one collection, or None."""
        client = self._open()
        if client is None:
            return None
        from chromadb.errors import NotFoundError

        try:
            collection = client.get_collection(name, embedding_function=None)
        except (NotFoundError, ValueError):
            return None
        return _describe(collection)

    def close(self) -> None:
        """Forget the client (ChromaDB keeps its own per-path cache)."""
        with self._lock:
            self._client = None

    def _open(self) -> Any:
        chromadb = _chromadb()
        with self._lock:
            if self._client is None:
                if not self.path.is_dir():
                    return None
                from chromadb.config import Settings

                try:
                    self._client = chromadb.PersistentClient(
                        path=str(self.path), settings=Settings(anonymized_telemetry=False))
                except Exception as exc:
                    raise StoreUnavailable(
                        f"cannot open the ChromaDB store at {self.path}: {exc}") from exc
            return self._client


def _describe(collection: Any) -> dict[str, Any]:
    return {"name": collection.name, "metadata": dict(collection.metadata or {}),
            "count": collection.count()}
