"""Ten `nodetool-gateway run` processes on one real OpenClaw gateway, through a restart.

The CI-sized version of ``benchmarks/fleet.py`` (issue 13): every node is a real
process with its own config and storage; all are approved through the operator
WebSocket and answer an invoke; the gateway restarts on the same port and state,
and every node must answer again. Correctness only: the one time bound is a
generous liveness limit, not a figure (the benchmark measures).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from interop.openclaw import TIME

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.fleet import ALLOW, COMMAND, Fleet, connect_operator

pytestmark = [pytest.mark.interop, pytest.mark.asyncio(loop_scope="session")]

N = 10
# Liveness only: well above what a restart takes (the gateway's own start is ~9 s).
BACK_WITHIN = 120 * TIME


async def test_ten_nodes_survive_a_gateway_restart(tmp_path, gateway):
    """10 node processes join, are approved and answer; after a restart of the session's
    gateway all 10 answer again. (It stands for the single-node restart test too: the
    same session, ten times over, through real `run` processes.)"""
    gw = gateway
    assert set(ALLOW) <= set(gw.allow_commands)
    fleet = Fleet(tmp_path / "nodes", gw.url, gw.token, N)
    op = None
    try:
        op = await gw.operator()
        fleet.start()
        joined = await fleet.join(op, timeout=120 * TIME)
        assert set(joined.approved) == set(joined.answering) == fleet.names
        assert len(fleet.by_device()) == N  # N distinct device identities
        answer = await op.invoke(fleet.nodes[0].device_id, COMMAND, {})
        assert answer["ok"] and answer["nodeId"] == fleet.nodes[0].device_id

        await op.close()
        op = None
        await gw.restart()
        op, _ = await connect_operator(gw, BACK_WITHIN)  # refused (503) while the fleet rushes in
        back: dict[str, float] = {}
        await fleet.until_answering(op, back, t0=time.monotonic(),
                                    deadline=time.monotonic() + BACK_WITHIN)
        assert set(back) == fleet.names
        fleet.check()  # no node gave up or crashed
        # Pairing survived the restart: nobody had to be approved again.
        ours = set(fleet.by_device())
        assert not [r for r in await op.pending_nodes() if r.get("nodeId") in ours]
        assert fleet.count_logs()["lines"]["tracebacks"] == 0
    finally:
        if op is not None:
            await op.close()
        await fleet.stop()
