"""Delivery bookkeeping: the outbox for answers made while disconnected, and the
record of answered requests so a repeated ``request_id`` is never run twice."""

from __future__ import annotations

import logging
from collections import OrderedDict, deque

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
    """The last N answers by request id, and whether each has gone out."""

    __slots__ = ("_answers", "max_entries")

    def __init__(self, max_entries: int):
        self._answers: OrderedDict[str, list] = OrderedDict()
        self.max_entries = max_entries

    def record(self, request_id: str, frame: str, sent: bool) -> None:
        answers = self._answers
        answers[request_id] = [frame, sent]
        if len(answers) > self.max_entries:
            answers.popitem(last=False)

    def mark_sent(self, request_id: str) -> None:
        entry = self._answers.get(request_id)
        if entry is not None:
            entry[1] = True

    def get(self, request_id: str) -> tuple[str, bool] | None:
        entry = self._answers.get(request_id)
        return None if entry is None else (entry[0], entry[1])
