"""The benchmarks run (on a tiny size): they are not tests, but they must not rot.

Nothing here is timed: figures depend on the machine, only that each case runs is checked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_engine_overhead_runs():
    """benchmarks/engine_overhead.py prints its table for a small graph."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "engine_overhead.py"),
                             "--chain", "50", "--fan", "20", "--repeat", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "chain of 50" in result.stdout and "fan-out of 20" in result.stdout


# Label of each case in the table that `python -m benchmarks` prints.
CASE_LABELS = ("command path", "throughput", "latency", "start-up", "memory", "reconnect",
               "reload", "observability", "code reload", "engine", "workflow end to end")


@pytest.mark.timeout(240)
def test_benchmarks_entry_point_runs_quick():
    """python -m benchmarks --quick runs every case but OpenClaw and prints a row for each."""
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--no-write",
                             "--skip", "openclaw"],
                            cwd=ROOT, capture_output=True, text=True, timeout=230)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    cases = {line.split("|")[1].strip() for line in rows[1:]}
    assert cases == set(CASE_LABELS), result.stdout
    for line in rows[1:]:
        assert line.split("|")[-2].strip() in ("MET", "MISSED", "-"), line
    assert "could not run" not in result.stdout
    assert "mode: default" in result.stdout


@pytest.mark.timeout(120)
def test_benchmarks_speed_mode_runs():
    """--speed runs the node and the baseline through the speed launcher (uvloop/orjson if there)."""
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--speed", "--no-write",
                             "--only", "command,engine"],
                            cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mode: speed" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert {line.split("|")[1].strip() for line in rows[1:]} == {"command path", "engine"}


@pytest.mark.timeout(120)
def test_benchmarks_take_cases_as_the_readme_spells_them():
    """--only takes a comma list with the table's names (start-up), and can be repeated."""
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--no-write",
                             "--only", "latency,start-up", "--only", "Engine"],
                            cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert {line.split("|")[1].strip() for line in rows[1:]} == {"latency", "start-up", "engine"}
    wrong = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "latency,warp"],
                           cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 2 and "unknown case(s) for --only: warp" in wrong.stderr
