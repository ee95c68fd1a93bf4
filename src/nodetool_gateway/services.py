"""What a workflow run borrows from the node: its language models and its agents' tools.

One :class:`Services` per config; a reload that touches ``providers``,
``models.default_language_model`` or ``tools`` builds a new one, and a run
keeps the one it started with. The engine hands it to node types as
``context.services`` without looking inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config, ToolsConfig
    from .providers import LanguageModels
    from .providers.registry import CallRecorder

__all__ = ["Services"]


@dataclass(frozen=True)
class Services:
    language_models: LanguageModels
    tools: ToolsConfig

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None, *,
                    record: CallRecorder | None = None) -> Services:
        """``record`` is told of each language-model call (see ``providers.registry``)."""
        from .providers import LanguageModels

        return cls(LanguageModels.from_config(config, environ, record=record), config.tools)

    def same_settings(self, config: Config) -> bool:
        return self.language_models.same_settings(config) and self.tools == config.tools

    async def retire(self) -> None:
        """Close the providers' clients once the runs using them are over."""
        await self.language_models.retire()
