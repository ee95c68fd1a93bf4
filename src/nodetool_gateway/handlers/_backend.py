"""Until the embedded backend lands, built-in commands answer UNAVAILABLE."""

from __future__ import annotations

from ..errors import Unavailable

__all__ = ["unavailable"]


def unavailable(command: str) -> Unavailable:
    return Unavailable(
        f"{command} is not available yet: this node has no workflow backend installed. "
        "Route it to your own handler in the config's 'commands' section, or disable it with null."
    )
