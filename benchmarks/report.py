"""The table on stdout and benchmarks/RESULTS.md: figures, machine, method."""

from __future__ import annotations

import hashlib
import os
import platform
import re
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from ._harness import ROOT, Row

__all__ = ["machine", "table", "write_results"]

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
COLUMNS = ("case", "figure", "node", "baseline", "node / baseline", "target", "verdict")

MODES = {
    "default": "Default install (no speed extra: asyncio's loop, the standard json module)",
    "speed": "With the speed extra (uvloop event loop, orjson in the node's codec)",
}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _commit() -> str:
    """The checked-out commit, read from .git without running git."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head[:12]
        ref = head.split(None, 1)[1]
        path = git / ref
        if path.exists():
            return f"{path.read_text().strip()[:12]} ({ref.rsplit('/', 1)[-1]})"
        packed = git / "packed-refs"
        if packed.exists():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return f"{line.split()[0][:12]} ({ref.rsplit('/', 1)[-1]})"
    except OSError:
        pass
    return "unknown"


def _source_digest() -> str:
    """A digest of the package's source as measured (the commit can't show uncommitted edits)."""
    digest = hashlib.sha256()
    src = ROOT / "src" / "nodetool_gateway"
    files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix in (".py", ".json"))
    for path in files:
        digest.update(str(path.relative_to(src)).encode() + b"\0" + path.read_bytes() + b"\0")
    return f"sha256 {digest.hexdigest()[:12]} of {len(files)} files under src/nodetool_gateway"


def machine(mode: str, speed_enabled: list[str], driver_loop: str) -> list[tuple[str, str]]:
    """What the figures were measured on, as (name, value) pairs."""
    load = os.getloadavg()
    return [
        ("date", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
        ("machine", f"{os.cpu_count()} cores, {_cpu_model()}, Linux {platform.release()}, "
                    f"load average {load[0]:.2f} at the start"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("libraries", f"nodetool-gateway {_version('nodetool-gateway')}, websockets "
                      f"{_version('websockets')}, pydantic {_version('pydantic')}, uvloop "
                      f"{_version('uvloop')}, orjson {_version('orjson')}"),
        ("commit", _commit()),
        ("source", _source_digest()),
        ("mode", f"{mode}: " + (
            "uvloop and orjson hidden from the node and the engine (import blocked, as in a "
            "plain install); the bare baseline uses asyncio and json" if mode == "default" else
            f"node, engine and bare baseline with {' + '.join(speed_enabled) or 'nothing (neither installed)'}")),
        ("driver", f"local gateway + load generator in one process on {driver_loop}, the same "
                   "for baseline and node runs (throughput: the gateway alone, the load from "
                   "separate load processes on the same loop)"),
    ]


def _cells(row: Row) -> tuple[str, ...]:
    ratio = f"{row.ratio:.2f} x" if row.ratio is not None else "-"
    return (row.case, row.figure, row.value("node"), row.value("baseline"), ratio, row.target,
            row.verdict)


def table(rows: list[Row]) -> str:
    """A plain-text table with the columns aligned (for the terminal)."""
    cells = [COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = []
    for n, c in enumerate(cells):
        lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
    return "\n".join(lines)


def section(mode: str, rows: list[Row], info: list[tuple[str, str]], skipped: list[str]) -> str:
    out = [f"<!-- section:{mode} -->", f"## {MODES[mode]}", ""]
    out += [f"- **{name}**: {value}" for name, value in info]
    if skipped:
        out.append(f"- **not run**: {', '.join(skipped)}")
    out += ["", _markdown(rows), "", "Runs behind each figure:", ""]
    for row in rows:
        for note in row.notes:
            out.append(f"- {row.case}, {row.figure.split(' (')[0]}: {note}")
    out.append(f"<!-- end:{mode} -->")
    return "\n".join(out)


HEADER = """# Benchmark results

Written by `python -m benchmarks` (default install) and `python -m benchmarks --speed`
(with uvloop and orjson); each run replaces its own section and keeps the other one.
How each case is measured: [README.md](README.md) beside this file. Every figure is the
median of the runs listed under its table, baseline and node runs alternating
(A B A B ...) in the same session; "node / baseline" is the ratio the targets speak of.
"""


def write_results(mode: str, rows: list[Row], info: list[tuple[str, str]], skipped: list[str],
                  method: str, path: Path = RESULTS) -> Path:
    """Replace this mode's section of RESULTS.md; keep the other mode's, and any other
    section (``fleet.py``'s, written by hand from its own run) after the method."""
    kept: dict[str, str] = {}
    if path.exists():
        for match in re.finditer(r"<!-- section:([\w-]+) -->.*?<!-- end:\1 -->",
                                 path.read_text(), re.S):
            kept[match.group(1)] = match.group(0)
    kept[mode] = section(mode, rows, info, skipped)
    parts = [HEADER]
    parts += [kept[m] for m in MODES if m in kept]
    parts.append(method)
    parts += [text for name, text in kept.items() if name not in MODES]
    path.write_text("\n\n".join(p.strip("\n") for p in parts) + "\n")
    return path

