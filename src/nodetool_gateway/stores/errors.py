"""What the stores raise when they cannot do their job."""

from __future__ import annotations

__all__ = ["StoreUnavailable"]


class StoreUnavailable(Exception):
    """A store's optional dependency is missing or its backend cannot be opened.

    The message says what to install or fix.
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
