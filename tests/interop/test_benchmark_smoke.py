"""benchmarks/openclaw_roundtrip.py runs against the real gateway (tiny size)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]


def test_openclaw_roundtrip_benchmark_runs():
    """The benchmark joins both nodes, calls each, and prints the node's share."""
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "openclaw_roundtrip.py"),
                             "--calls", "5", "--repeat", "1"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "time inside our node per invoke" in result.stdout and "bare" in result.stdout
