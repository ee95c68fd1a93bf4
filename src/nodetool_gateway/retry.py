"""Reconnect back-off: a few quick retries, then exponential, capped, jittered.

The attempt count is reset after every successful registration.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays between connection attempts, from the config's ``retry`` section."""

    def __init__(self, initial_delay: float, max_delay: float, multiplier: float,
                 jitter: float, max_attempts: int | None = None, hold_attempts: int = 0,
                 rng: random.Random | None = None):
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.multiplier = multiplier
        self.jitter = jitter
        self.max_attempts = max_attempts
        self.hold_attempts = hold_attempts
        self.attempts = 0
        self._rng = rng or random.Random()

    @classmethod
    def from_config(cls, retry) -> "Backoff":
        return cls(retry.initial_delay, retry.max_delay, retry.multiplier, retry.jitter,
                   retry.max_attempts, retry.hold_attempts)

    def reset(self) -> None:
        """A registration succeeded: the next failure starts from the initial delay."""
        self.attempts = 0

    def next_delay(self) -> float | None:
        """The wait before the next attempt, or None when attempts are used up."""
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return None
        growth = max(0, self.attempts - self.hold_attempts + 1) if self.hold_attempts else self.attempts
        base = min(self.max_delay, self.initial_delay * self.multiplier ** growth)
        self.attempts += 1
        # Jitter only shortens a wait: a fleet spreads out, and a gateway that is
        # back is found within one step, never later.
        return base * (1.0 - self._rng.uniform(0.0, self.jitter))
