"""Spread reconnects (issue 13): full jitter, a random first wait after a lost connection,
503/429 waits that do not grow the step, Retry-After honoured, and the gateway's reason
in the log line of a refused upgrade.

The arithmetic is checked with a seeded random.Random; the behaviour against a real
websockets server on 127.0.0.1 that refuses the first upgrades as an admission-limited
gateway does, then accepts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import re
from email.utils import formatdate

import pytest
from conftest import TIME, GatewayPeer, node_config
from websockets.datastructures import Headers
from websockets.http11 import Response

from nodetool_gateway import GatewayClient
from nodetool_gateway._connection import _reason
from nodetool_gateway.config import Config
from nodetool_gateway.errors import GaveUp
from nodetool_gateway.retry import OUTAGE_SHARE, Backoff, parse_retry_after

REASON = "Too many unauthenticated sockets"
RECONNECT = re.compile(r"reconnecting in ([\d.]+)s \(attempt (\d+)\)")


# The arithmetic, with a seeded rng


def _twin(seed: int) -> random.Random:
    """The same sequence the Backoff under test draws from."""
    return random.Random(seed)


def test_default_is_full_jitter():
    """retry.jitter defaults to 1.0: every wait is uniform in [0, step]."""
    assert Config().retry.jitter == 1.0
    b = Backoff.from_config(Config().retry, rng=random.Random(1))
    assert (b.initial_delay, b.multiplier, b.max_delay, b.hold_attempts, b.jitter) == (
        1.0, 2.0, 60.0, 3, 1.0)


def _bounded(exponential: float, waited: float, initial: float) -> float:
    """The step: the exponential one, at most half of what was waited since the loss."""
    return min(exponential, max(initial, OUTAGE_SHARE * waited))


def test_full_jitter_waits_are_a_uniform_share_of_each_step():
    """Exponential steps 1,1,1,2,4,...,60, each bounded by half of the time waited so far;
    each wait is step * (1 - U(0, 1)), exactly."""
    b = Backoff(1.0, 60.0, 2.0, 1.0, hold_attempts=3, rng=random.Random(13))
    twin = _twin(13)
    exponential = [1, 1, 1, 2, 4, 8, 16, 32, 60, 60] + [60] * 20
    waited = 0.0
    for n, exp in enumerate(exponential, 1):
        step = _bounded(exp, waited, 1.0)
        assert b.step() == step
        delay = b.next_delay()
        assert delay == step * (1.0 - twin.uniform(0.0, 1.0))
        assert 0.0 <= delay <= step
        assert (b.attempts, b.steps) == (n, n)
        waited += delay
    assert b.step() == 60  # a long outage still backs off to max_delay


def test_the_step_never_runs_ahead_of_the_outage():
    """Full jitter waits add up to about half the steps; a step that only doubled would
    leave a fleet waiting out 16-32 s steps after a 13 s gateway restart. Bounded, every
    step is at most half of what was waited before it."""
    for seed in range(50):
        b = Backoff(1.0, 60.0, 2.0, 1.0, hold_attempts=3, rng=random.Random(seed))
        waited = 0.0
        while waited < 13.0:
            assert b.step() <= max(1.0, waited / 2)
            waited += b.next_delay()
        assert b.step() <= waited / 2 <= 13.0


def test_fixed_waits_grow_by_half_of_what_was_waited():
    """jitter 0: after the hold, each wait is half of all the waits before it (so one
    and a half times the last), up to max_delay."""
    b = Backoff(1.0, 10.0, 2.0, 0.0, hold_attempts=3, rng=random.Random(0))
    assert [b.next_delay() for _ in range(9)] == [1, 1, 1, 1.5, 2.25, 3.375, 5.0625,
                                                  7.59375, 10]


def test_full_jitter_spreads_a_fleet_over_the_whole_step():
    """100 nodes losing the gateway together: their first waits cover [0, initial_delay],
    not the top 20% of it (the old jitter 0.2 put every one in [0.8, 1.0])."""
    firsts = [Backoff(1.0, 60.0, 2.0, 1.0, hold_attempts=3, rng=random.Random(seed)).next_delay()
              for seed in range(100)]
    assert all(0.0 <= d <= 1.0 for d in firsts)
    # A quarter of the fleet in each quarter of the step, give or take (seeded: exact counts).
    quarters = [sum(q / 4 <= d < (q + 1) / 4 for d in firsts) for q in range(4)]
    assert sum(quarters) == 100 and min(quarters) >= 15
    assert sum(d < 0.8 for d in firsts) >= 70


def test_partial_jitter_still_available():
    """jitter 0.2 keeps its meaning: each wait is its step shortened by up to 20%."""
    b = Backoff(1.0, 60.0, 2.0, 0.2, hold_attempts=0, rng=random.Random(5))
    twin = _twin(5)
    waited = 0.0
    for exp in (1, 2, 4, 8, 16, 32, 60):
        step = _bounded(exp, waited, 1.0)
        delay = b.next_delay()
        assert delay == step * (1.0 - twin.uniform(0.0, 0.2))
        assert 0.8 * step <= delay <= step
        waited += delay


def test_first_wait_after_a_registration_is_random_share_of_initial_delay():
    """After reset() (a registration), the next wait is uniform in [0, initial_delay]."""
    b = Backoff(0.5, 60.0, 2.0, 1.0, hold_attempts=0, rng=random.Random(21))
    twin = _twin(21)
    waited = 0.0
    for exp in (0.5, 1.0, 2.0, 4.0):
        waited += _bounded(exp, waited, 0.5) * (1.0 - twin.uniform(0.0, 1.0))
        b.next_delay()
    assert b.step() == _bounded(8.0, waited, 0.5) and b.waited == waited
    b.reset()
    assert (b.attempts, b.steps, b.waited, b.step()) == (0, 0, 0.0, 0.5)
    assert b.next_delay() == 0.5 * (1.0 - twin.uniform(0.0, 1.0))


def test_overload_refusal_does_not_grow_the_step():
    """A 503/429 without Retry-After: uniform in [0, initial_delay * multiplier], the step
    stays where it was, and the refusal counts as an attempt."""
    b = Backoff(1.0, 60.0, 2.0, 1.0, hold_attempts=0, rng=random.Random(3))
    twin = _twin(3)
    for n in range(1, 11):
        delay = b.refused_delay(None)
        assert delay == 2.0 * (1.0 - twin.uniform(0.0, 1.0))
        assert 0.0 <= delay <= 2.0
        assert (b.attempts, b.steps, b.step()) == (n, 0, 1.0)
    # A plain failure afterwards starts from the initial step, not from 2**10.
    assert b.next_delay() == 1.0 * (1.0 - twin.uniform(0.0, 1.0))
    assert (b.attempts, b.steps, b.step()) == (11, 1, 2.0)


def test_overload_refusal_wait_is_capped_at_max_delay():
    b = Backoff(1.0, 1.5, 2.0, 0.0, rng=random.Random(0))
    assert b.refused_delay(None) == 1.5


def test_overload_refusal_with_jitter_zero_is_fixed():
    b = Backoff(1.0, 60.0, 3.0, 0.0, rng=random.Random(0))
    assert [b.refused_delay(None) for _ in range(3)] == [3.0, 3.0, 3.0]


def test_retry_after_is_honoured_plus_a_spread():
    """Retry-After: that many seconds plus a random share of initial_delay."""
    b = Backoff(1.0, 60.0, 2.0, 1.0, hold_attempts=0, rng=random.Random(8))
    twin = _twin(8)
    delay = b.refused_delay(5.0)
    assert delay == 5.0 + 1.0 * (1.0 - twin.uniform(0.0, 1.0))
    assert 5.0 <= delay <= 6.0
    assert (b.attempts, b.steps) == (1, 0)
    b0 = Backoff(1.0, 60.0, 2.0, 0.0, rng=random.Random(8))
    assert b0.refused_delay(5.0) == 6.0
    assert b0.refused_delay(0.0) == 1.0


def test_retry_after_is_capped_at_max_delay():
    b = Backoff(1.0, 60.0, 2.0, 1.0, rng=random.Random(9))
    assert b.refused_delay(3600.0) == 60.0
    assert b.refused_delay(59.9) <= 60.0


def test_refusals_count_towards_max_attempts():
    b = Backoff(0.1, 1.0, 2.0, 1.0, max_attempts=3, rng=random.Random(4))
    assert b.refused_delay(None) is not None
    assert b.refused_delay(2.0) is not None
    assert b.next_delay() is not None
    assert b.refused_delay(None) is None and b.next_delay() is None
    assert b.attempts == 3


def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=now) == 0.0
    for bad in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(bad) is None


def test_reason_is_first_printable_line_of_the_body():
    r = Response(503, "Service Unavailable", Headers(), f"{REASON}\nsecond line\n".encode())
    assert _reason(r) == REASON
    r = Response(503, "Service Unavailable", Headers(), b"\n  admission closed\x1b[31m  \r\n")
    assert _reason(r) == "admission closed\\x1b[31m"
    long = _reason(Response(503, "Service Unavailable", Headers(), b"x" * 5000))
    assert long == "x" * 200 + "..."
    assert _reason(Response(503, "Service Unavailable", Headers(), b"")) == ""
    assert _reason(Response(503, "Admission closed", Headers(), b"")) == "Admission closed"


# Against a real server on loopback


class AdmissionPeer(GatewayPeer):
    """A gateway peer that answers the first ``refuse`` upgrades with HTTP ``status`` and
    a body saying why (and ``Retry-After`` if given), then accepts; it notes when each
    upgrade came."""

    def __init__(self, refuse: int, *, status: int = 503, retry_after: str | None = None,
                 body: bytes = f"{REASON}\nfrom 127.0.0.1\n".encode()):
        super().__init__()
        self.refuse, self.status, self.retry_after, self.body = refuse, status, retry_after, body
        self.times: list[float] = []

    def _process_request(self, connection, request):
        self.attempts += 1
        self.times.append(asyncio.get_running_loop().time())
        if self.attempts <= self.refuse:
            headers = Headers()
            if self.retry_after is not None:
                headers["Retry-After"] = self.retry_after
            return Response(self.status, "Service Unavailable", headers, self.body)
        return None


def _refusal_lines(caplog, status: int = 503) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if f"answered HTTP {status}" in r.getMessage()]


async def _join(run_node, caplog, gw, retry: dict, status: int = 503) -> tuple[float, list[str]]:
    """A node with ``retry`` joins the started peer ``gw``: seconds until it registered,
    and its refusal lines. The peer is stopped after."""
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with run_node(GatewayClient(config=node_config(gw.url, retry=retry))):
            await gw.registered(timeout=5 * TIME)
            elapsed = loop.time() - start
        return elapsed, _refusal_lines(caplog, status)
    finally:
        await gw.stop()



@pytest.mark.asyncio
async def test_admission_refusals_log_the_reason_and_come_back_quickly(run_node, caplog):
    """Six 503s: one WARNING each with the gateway's reason and the wait; the waits stay
    within initial_delay * multiplier (old back-off: 0.1+0.2+...+3.2 = 6.3 s)."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    initial, multiplier, refuse = 0.1, 2.0, 6
    gw = await AdmissionPeer(refuse).start()
    elapsed, lines = await _join(run_node, caplog, gw, {
        "initial_delay": initial, "multiplier": multiplier, "max_delay": 30.0,
        "hold_attempts": 0, "jitter": 1.0})
    assert gw.attempts == refuse + 1
    assert len(lines) == refuse
    for line in lines:
        m = re.fullmatch(rf"gateway {re.escape(gw.url)} answered HTTP 503 \({REASON}\); "
                         r"reconnecting in ([\d.]+)s \(attempt (\d+)\)", line)
        assert m, line
        assert 0.0 <= float(m.group(1)) <= initial * multiplier
    assert [int(RECONNECT.search(line).group(2)) for line in lines] == list(range(1, refuse + 1))
    assert "from 127.0.0.1" not in caplog.text  # one line of the body, not all of it
    assert all(r.levelno == logging.WARNING for r in caplog.records
               if "answered HTTP 503" in r.getMessage())
    # No separate "reconnecting in" INFO line for a refusal: one line per failure.
    assert caplog.text.count("reconnecting in") == refuse
    gaps = [b - a for a, b in itertools.pairwise(gw.times)]
    assert all(gap <= initial * multiplier + 0.25 * TIME for gap in gaps), gaps
    assert elapsed <= refuse * initial * multiplier + 1.0 * TIME


@pytest.mark.asyncio
async def test_429_without_retry_after_is_a_spread_wait_too(run_node, caplog):
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    gw = await AdmissionPeer(3, status=429, body=b"slow down\n").start()
    _, lines = await _join(run_node, caplog, gw, {
        "initial_delay": 0.1, "multiplier": 2.0, "max_delay": 30.0, "hold_attempts": 0,
        "jitter": 1.0}, status=429)
    assert len(lines) == 3 and all("(slow down)" in line for line in lines)
    assert all(float(RECONNECT.search(line).group(1)) <= 0.2 for line in lines)


@pytest.mark.asyncio
async def test_retry_after_is_honoured(run_node, caplog):
    """503 with Retry-After: 1 -> the node waits 1 s plus a share of initial_delay."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    initial = 0.1
    gw = await AdmissionPeer(1, retry_after="1").start()
    _, lines = await _join(run_node, caplog, gw,
                           {"initial_delay": initial, "max_delay": 30.0, "jitter": 1.0})
    assert len(lines) == 1 and f"({REASON})" in lines[0]
    delay = float(RECONNECT.search(lines[0]).group(1))
    assert 1.0 <= delay <= 1.0 + initial + 0.005  # the log rounds to 0.01
    gap = gw.times[1] - gw.times[0]
    assert 1.0 <= gap <= 1.0 + initial + 0.5 * TIME


@pytest.mark.asyncio
async def test_retry_after_far_away_waits_max_delay(run_node, caplog):
    """Retry-After: an HTTP date an hour away, max_delay 0.3 s: the node waits 0.3 s."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    import time

    gw = await AdmissionPeer(2, retry_after=formatdate(time.time() + 3600, usegmt=True)).start()
    elapsed, lines = await _join(run_node, caplog, gw,
                                 {"initial_delay": 0.05, "max_delay": 0.3, "jitter": 1.0})
    assert [RECONNECT.search(line).group(1) for line in lines] == ["0.30", "0.30"]
    assert elapsed <= 2 * 0.3 + 1.0 * TIME


@pytest.mark.asyncio
async def test_a_gateway_that_keeps_refusing_ends_in_gave_up(caplog):
    """A gateway that keeps answering 503: the node gives up after retry.max_attempts,
    and its last refusal is logged with the reason."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    gw = await AdmissionPeer(100).start()
    try:
        cfg = node_config(gw.url, retry={"initial_delay": 0.02, "max_attempts": 3,
                                         "jitter": 1.0})
        client = GatewayClient(config=cfg)
        with pytest.raises(GaveUp, match="after 3 attempts"):
            await asyncio.wait_for(client.run(), 5 * TIME)
        lines = _refusal_lines(caplog)
    finally:
        await gw.stop()
    assert gw.attempts == 4
    assert len(lines) == 4 and all(f"({REASON})" in line for line in lines)
    assert "reconnecting in" not in lines[-1]


@pytest.mark.asyncio
async def test_first_wait_after_a_lost_connection_is_a_random_share(peer, run_node, caplog):
    """Lost after registering: the next attempt waits a random share of initial_delay,
    each time (no immediate reconnect, and not the whole delay in lockstep)."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    initial = 0.3
    cfg = node_config(peer.url, retry={"initial_delay": initial, "max_delay": 5.0,
                                       "jitter": 1.0})
    async with run_node(GatewayClient(config=cfg)):
        for _ in range(4):
            conn, _ = await peer.registered()
            await conn.ws.close(1012, "restarting")
            await conn.closed.wait()
        await peer.registered()
    found = RECONNECT.findall(caplog.text)
    assert [attempt for _, attempt in found] == ["1"] * 4
    delays = [float(d) for d, _ in found]
    assert all(0.0 <= d <= initial for d in delays)
    assert len(set(delays)) > 1  # drawn afresh each time


@pytest.mark.asyncio
async def test_openclaw_unavailable_in_the_handshake_is_an_overload_wait(caplog):
    """OpenClaw's UNAVAILABLE with retryAfterMs (a gateway still starting) is the 503 of
    its handshake: the node waits that long plus a share of initial_delay, the step does
    not grow, and it counts towards retry.max_attempts."""
    import json

    from websockets.asyncio.server import serve

    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    times: list[float] = []

    async def gateway(ws):
        times.append(asyncio.get_running_loop().time())
        await ws.send(json.dumps({"type": "event", "event": "connect.challenge",
                                  "payload": {"nonce": "n", "ts": 1_764_000_000_000}}))
        req = json.loads(await ws.recv())
        await ws.send(json.dumps({"type": "res", "id": req["id"], "ok": False, "error": {
            "code": "UNAVAILABLE", "message": "starting", "retryAfterMs": 300,
            "details": {"reason": "startup-sidecars"}}}))
        await ws.wait_closed()

    async with serve(gateway, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        cfg = node_config(url, gateway={"protocol": "openclaw", "auth": {"token": "t"}},
                          retry={"initial_delay": 0.1, "max_delay": 30.0, "hold_attempts": 0,
                                 "max_attempts": 5, "jitter": 1.0})
        with pytest.raises(GaveUp, match="after 5 attempts"):
            await asyncio.wait_for(GatewayClient(config=cfg).run(), 10 * TIME)
    assert len(times) == 6
    assert caplog.text.count("startup-sidecars") == 6
    delays = [float(d) for d, _ in RECONNECT.findall(caplog.text)]
    assert len(delays) == 5 and all(0.3 <= d <= 0.4 + 0.005 for d in delays), delays
    assert len(set(delays)) > 1  # spread, not the gateway's 0.3 s for every node
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.3 <= gap <= 0.4 + 0.5 * TIME for gap in gaps), gaps
