"""What a workflow run borrows from the node: its language models, its agents' tools,
its storage folder and the config sections node types read (files, network, code).

One :class:`Services` per config; a reload that touches ``providers``,
``models.default_language_model`` or one of :data:`NODE_SECTIONS` builds a new one, and a
run keeps the one it started with. The engine hands it to node types as
``context.services`` without looking inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config, ToolsConfig
    from .providers import LanguageModels
    from .providers.registry import CallRecorder

__all__ = ["NODE_SECTIONS", "Services"]

# Config sections node types read through ``context.services.config`` (a section not in
# the config yet reads as None); a change to one gives new runs a new Services.
NODE_SECTIONS = ("tools", "storage", "files", "network", "code")


def _node_settings(config: Config) -> tuple[Any, ...]:
    return tuple(getattr(config, name, None) for name in NODE_SECTIONS)


@dataclass(frozen=True)
class Services:
    language_models: LanguageModels
    tools: ToolsConfig
    config: Config  # the whole config: node types read their own sections from it

    @property
    def storage(self) -> Path:
        """The node's storage folder (its assets, its SQLite databases)."""
        return Path(self.config.storage.path).expanduser()

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None, *,
                    record: CallRecorder | None = None) -> Services:
        """``record`` is told of each language-model call (see ``providers.registry``)."""
        from .providers import LanguageModels

        return cls(LanguageModels.from_config(config, environ, record=record), config.tools,
                   config)

    def same_settings(self, config: Config) -> bool:
        return (self.language_models.same_settings(config)
                and _node_settings(self.config) == _node_settings(config))

    async def retire(self) -> None:
        """Close the providers' clients once the runs using them are over."""
        await self.language_models.retire()
