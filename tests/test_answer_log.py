"""The record of answered requests: what a repeat gets back, and what it costs to keep."""

from __future__ import annotations

import json
import tracemalloc

from nodetool_gateway.delivery import AnswerLog
from nodetool_gateway.protocols import Answer, Request
from nodetool_gateway.protocols.nodetool import answer as encode


def _frame(rid: str, result=None) -> str:
    return encode(Request("command", "noop", rid, {}, "command_request"), Answer(ok=True, result=result))


def test_every_remembered_answer_reads_back_exactly():
    log = AnswerLog(1000)
    frames = {}
    for i in range(3000):
        rid = f"r{i}"
        frames[rid] = _frame(rid, {"i": i, "text": "é\n\x00" * (i % 3)})
        log.record(rid, rid, None, frames[rid])
        log.mark_sent(rid)
    assert 1000 <= len(log) < 1000 + 1000 // 8 + 1
    kept = [rid for rid in frames if log.get(rid) is not None]
    # The newest answers are kept, the oldest forgotten, with nothing in between lost.
    assert kept == [f"r{i}" for i in range(3000 - len(kept), 3000)]
    for rid in kept:
        first_id, ans, frame, sent = log.get(rid)
        assert (first_id, ans, frame, sent) == (rid, None, frames[rid], True)
        assert json.loads(frame)["result"] == {"i": int(rid[1:]), "text": "é\n\x00" * (int(rid[1:]) % 3)}


def test_unsent_and_idempotency_entries_survive_sealing():
    log = AnswerLog(16)  # a block every 2 answers
    kept = Answer(ok=True, result=7)
    log.record("idem-1", "first-id", kept, _frame("first-id", 7))
    log.record("r1", "r1", None, _frame("r1"))
    log.mark_sent("r1")
    for i in range(6):
        log.record(f"x{i}", f"x{i}", None, _frame(f"x{i}"))
        log.mark_sent(f"x{i}")
    assert log.get("idem-1")[:2] == ("first-id", kept)
    assert log.get("idem-1")[3] is False  # still in the outbox
    assert log.get("r1")[3] is True
    log.mark_sent("idem-1")
    assert log.get("idem-1")[3] is True


def test_ten_thousand_answers_cost_under_two_megabytes():
    """At the default remember_answers, the log is a small share of a node's memory."""
    frames = [_frame(f"req-{i:08d}") for i in range(30000)]
    tracemalloc.start()
    try:
        log = AnswerLog(10000)
        base = tracemalloc.get_traced_memory()[0]
        for i, frame in enumerate(frames):
            rid = f"req-{i:08d}"
            log.record(rid, rid, None, frame)
            log.mark_sent(rid)
        del frame
        frames.clear()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert used < 2_000_000, used


def test_large_answers_are_sealed_in_small_blocks():
    """Sealing compresses on the session's loop, so a block never holds more than about
    1 MiB of frames plus one answer (a batch of 512 large answers held the loop 0.5 s)."""
    from nodetool_gateway.delivery import _SEAL_CHARS

    log = AnswerLog(10_000)
    frames = {}
    for i in range(40):
        rid = f"big{i}"
        frames[rid] = _frame(rid, {"blob": f"{i:02d}" * 1_500_000})
        log.record(rid, rid, None, frames[rid])
    for i in range(100):
        rid = f"small{i}"
        frames[rid] = _frame(rid, i)
        log.record(rid, rid, None, frames[rid])
    assert log._blocks
    biggest = max(len(f) for f in frames.values())
    for block in log._blocks:
        size = sum(len(log.get(k)[2]) for k in block.keys)
        assert size < _SEAL_CHARS + biggest
    assert all(log.get(rid)[2] == frame for rid, frame in frames.items())
