"""Reconnect back-off: a few quick retries, then exponential, capped, jittered.

Every wait is a random share of its step (full jitter with the default
``jitter: 1.0``): a fleet that lost its gateway at the same moment comes back
spread over the step instead of in lockstep. A gateway that refuses the upgrade
for load (HTTP 503 or 429) gets a short spread wait that does not grow the step,
or its ``Retry-After`` plus a spread; every such refusal still counts as an
attempt. The attempt count and the step are reset after every registration.

The step is also never more than :data:`OUTAGE_SHARE` of what the node has waited
since it lost the gateway: with full jitter the waits add up to about half the
steps, so a step that only doubled would run ahead of the outage (a gateway back
after 13 s found nodes waiting out 16 or 32 s steps, and all of a fleet answered
only 25 s after it was ready). Bounded so, a gateway that was away T is found again
within about T/2, and a long outage still backs off to ``max_delay``.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import random
import time

__all__ = ["OUTAGE_SHARE", "Backoff", "parse_retry_after"]

# The longest step, as a share of the time waited since the gateway was lost.
OUTAGE_SHARE = 0.5


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
        self.attempts = 0  # failed attempts since the last registration (for max_attempts)
        self.steps = 0  # of them, those that grew the back-off step
        self.waited = 0.0  # seconds of waits handed out since the last registration
        self._rng = rng or random.Random()

    @classmethod
    def from_config(cls, retry, rng: random.Random | None = None) -> Backoff:
        return cls(retry.initial_delay, retry.max_delay, retry.multiplier, retry.jitter,
                   retry.max_attempts, retry.hold_attempts, rng=rng)

    def reset(self) -> None:
        """A registration succeeded: the next failure starts from the initial delay."""
        self.attempts = self.steps = 0
        self.waited = 0.0

    def step(self) -> float:
        """The current back-off step: the longest the next plain wait can be."""
        n = self.steps
        growth = max(0, n - self.hold_attempts + 1) if self.hold_attempts else n
        try:
            step = min(self.max_delay, self.initial_delay * self.multiplier ** growth)
        except OverflowError:
            step = self.max_delay
        return min(step, max(self.initial_delay, OUTAGE_SHARE * self.waited))

    def next_delay(self) -> float | None:
        """The wait before the next attempt, or None when attempts are used up.

        A random share of the step: shortened by a random fraction of up to
        ``jitter`` (1.0: uniform in [0, step]), never longer than the step, so a
        gateway that is back is found within one step.
        """
        if self._used_up():
            return None
        base = self.step()
        self.attempts += 1
        self.steps += 1
        return self._count(self._spread(base))

    def refused_delay(self, retry_after: float | None = None) -> float | None:
        """The wait after the gateway refused the upgrade for load (HTTP 503 or 429).

        Without ``Retry-After``: a random share of ``initial_delay * multiplier``
        (capped at max_delay); the step does not grow, so a fleet turned away by an
        admission limit comes back within a couple of initial delays instead of
        doubling. With it: that many seconds plus a random share of
        ``initial_delay``, capped at max_delay. Counts as an attempt either way;
        None when attempts are used up.
        """
        if self._used_up():
            return None
        self.attempts += 1
        if retry_after is None:
            return self._count(self._spread(min(self.max_delay,
                                                self.initial_delay * self.multiplier)))
        return self._count(min(self.max_delay,
                               max(0.0, retry_after) + self._spread(self.initial_delay)))

    def _count(self, wait: float) -> float:
        self.waited += wait
        return wait

    def _used_up(self) -> bool:
        return self.max_attempts is not None and self.attempts >= self.max_attempts

    def _spread(self, span: float) -> float:
        # Only ever shortens: jitter 1.0 is uniform in [0, span], jitter 0 is span itself.
        return span * (1.0 - self._rng.uniform(0.0, self.jitter))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds from now: delay-seconds or an HTTP date.

    None when absent or unreadable; a date in the past is 0.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # HTTP dates are GMT; obsolete forms may lack the zone
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
