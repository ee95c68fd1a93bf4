"""Delivery bookkeeping: the outbox for answers made while disconnected, and the
record of answered requests so a repeated ``request_id`` is never run twice."""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from typing import Any

__all__ = ["Outbox", "AnswerLog"]

log = logging.getLogger("nodetool.gateway.delivery")


class Outbox:
    """Bounded FIFO of frames waiting for the next registration."""

    __slots__ = ("_frames", "max_messages", "dropped")

    def __init__(self, max_messages: int):
        self._frames: deque[tuple[str | None, str]] = deque()
        self.max_messages = max_messages
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def append(self, request_id: str | None, frame: str) -> None:
        if len(self._frames) >= self.max_messages:
            self._frames.popleft()
            self.dropped += 1
            log.warning("outbox full (%d frames): dropped the oldest answer", self.max_messages)
        self._frames.append((request_id, frame))

    def peek(self) -> tuple[str | None, str]:
        return self._frames[0]

    def pop(self) -> tuple[str | None, str]:
        return self._frames.popleft()


class AnswerLog:
    """The last N answers by dedup key (request id or idempotency key), and whether each went out."""

    __slots__ = ("_answers", "max_entries")

    def __init__(self, max_entries: int):
        self._answers: OrderedDict[str, list[Any]] = OrderedDict()
        self.max_entries = max_entries

    def record(self, key: str, request_id: str | None, answer: Any, frame: str | None) -> None:
        answers = self._answers
        answers[key] = [request_id, answer, frame, False]
        if len(answers) > self.max_entries:
            answers.popitem(last=False)

    def mark_sent(self, key: str) -> None:
        entry = self._answers.get(key)
        if entry is not None:
            entry[3] = True

    def get(self, key: str) -> tuple[Any, Any, str | None, bool] | None:
        """(first request id, answer or None, frame, sent) for a key, or None."""
        entry = self._answers.get(key)
        return None if entry is None else (entry[0], entry[1], entry[2], entry[3])
