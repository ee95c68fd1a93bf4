"""Reconnect back-off: exponential, capped, jittered, reset after each registration."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays between connection attempts, from the config's ``retry`` section."""

    def __init__(self, initial_delay: float, max_delay: float, multiplier: float,
                 jitter: float, max_attempts: int | None = None,
                 rng: random.Random | None = None):
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.multiplier = multiplier
        self.jitter = jitter
        self.max_attempts = max_attempts
        self.attempts = 0
        self._rng = rng or random.Random()

    @classmethod
    def from_config(cls, retry) -> "Backoff":
        return cls(retry.initial_delay, retry.max_delay, retry.multiplier, retry.jitter,
                   retry.max_attempts)

    def reset(self) -> None:
        """A registration succeeded: the next failure starts from the initial delay."""
        self.attempts = 0

    def next_delay(self) -> float | None:
        """The wait before the next attempt, or None when attempts are used up."""
        if self.max_attempts is not None and self.attempts >= self.max_attempts:
            return None
        base = min(self.max_delay, self.initial_delay * self.multiplier ** self.attempts)
        self.attempts += 1
        # Jitter spreads a fleet's reconnects so a restarted gateway isn't stampeded.
        spread = base * self.jitter
        return max(0.0, base + self._rng.uniform(-spread, spread))
