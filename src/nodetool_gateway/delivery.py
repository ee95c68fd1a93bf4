"""Delivery bookkeeping: the outbox for answers made while disconnected, and the
record of answered requests so a repeated ``request_id`` is never run twice."""

from __future__ import annotations

import logging
import zlib
from collections import deque
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


#: A block is sealed once its frames reach this many characters (or a batch of answers).
_SEAL_CHARS = 1 << 20


class _Block:
    """Answers sealed together: their keys, and their frames compressed as one."""

    __slots__ = ("data", "keys")

    def __init__(self, keys: tuple[str, ...], frames: list[str]):
        self.keys = keys
        self.data = zlib.compress("\x00".join(frames).encode(), 1)

    def frame(self, key: str) -> str:
        return zlib.decompress(self.data).decode().split("\x00")[self.keys.index(key)]


class AnswerLog:
    """The last N answers by dedup key (request id or idempotency key), and whether each went out.

    It holds at least ``limits.remember_answers`` entries (and at most a batch
    more) for the node's whole life, so entries are kept small: the newest
    batch as plain frames, older ones in compressed blocks of a batch each
    (answer frames repeat their field names and differ little, so a block is
    about a tenth of its frames). A repeat of a request is rare; reading an old
    answer back costs one block's decompression. Answers still waiting to go
    out are also in ``_unsent``; an answer under an idempotency key also keeps
    the first request's id and the answer, so a repeat under another id gets
    its own frame.
    """

    __slots__ = ("_batch", "_blocks", "_first", "_frames", "_hot", "_hot_size", "_unsent",
                 "max_entries")

    def __init__(self, max_entries: int):
        self._frames: dict[str, str | _Block] = {}  # key -> its frame, or the block holding it
        self._hot: list[str] = []  # keys of the newest answers, not sealed yet
        self._hot_size = 0  # their frames' characters
        self._blocks: deque[_Block] = deque()  # sealed answers, oldest first
        self._unsent: set[str] = set()  # keys whose frame has not gone out yet
        self._first: dict[str, tuple[str | None, Any]] = {}  # key -> (first id, answer)
        self.max_entries = max_entries
        self._batch = 0  # answers per block, from max_entries

    def __len__(self) -> int:
        return len(self._frames)

    def record(self, key: str, request_id: str | None, answer: Any, frame: str) -> None:
        frames = self._frames
        if type(frames.get(key)) is not str:
            self._hot.append(key)
        frames[key] = frame
        self._hot_size += len(frame)
        self._unsent.add(key)
        if answer is not None or request_id != key:
            self._first[key] = (request_id, answer)
        batch = self._batch or self._resize()
        # Sealing compresses on the session's loop: a block stays small enough to take
        # a few milliseconds (a batch of large answers would hold the loop for ~0.5 s).
        if len(self._hot) >= batch or self._hot_size >= _SEAL_CHARS:
            self._seal()

    def _resize(self) -> int:
        self._batch = max(1, min(512, self.max_entries // 8))
        return self._batch

    def _seal(self) -> None:
        frames, hot = self._frames, self._hot
        block = _Block(tuple(hot), [frames[k] for k in hot])  # type: ignore[misc]
        for key in hot:
            frames[key] = block
        hot.clear()
        self._hot_size = 0
        blocks = self._blocks
        blocks.append(block)
        # Keep at least max_entries: drop the oldest block while the rest suffice.
        while blocks and len(frames) - len(blocks[0].keys) >= self.max_entries:
            old = blocks.popleft()
            for key in old.keys:
                if frames.get(key) is old:
                    del frames[key]
                    self._unsent.discard(key)
                    self._first.pop(key, None)
        self._batch = 0  # max_entries may have changed on reload

    def mark_sent(self, key: str) -> None:
        self._unsent.discard(key)

    def get(self, key: str) -> tuple[Any, Any, str, bool] | None:
        """(first request id, answer or None, frame, sent) for a key, or None."""
        entry = self._frames.get(key)
        if entry is None:
            return None
        frame = entry if type(entry) is str else entry.frame(key)  # type: ignore[union-attr]
        first_id, answer = self._first.get(key, (key, None))
        return first_id, answer, frame, key not in self._unsent
