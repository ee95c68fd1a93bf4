"""The benchmark scripts run (on a tiny size): they are not tests, but they must not rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_engine_overhead_runs():
    """benchmarks/engine_overhead.py prints its table for a small graph."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "engine_overhead.py"),
                             "--chain", "50", "--fan", "20", "--repeat", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "chain of 50" in result.stdout and "fan-out of 20" in result.stdout
