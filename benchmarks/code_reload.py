"""Hot reload of code: what re-importing an edited module adds to a config-only reload.

One node, ``nodetool-gateway run node.yaml`` (hot reload on), with its code in the
config's folder:

- ``reload_cfg.py``: ``answer_a`` and ``answer_b``; the ``cfg`` route names one of
  them, and the **config-only edit** (the baseline) switches it in node.yaml;
- ``reload_plain.py``: a small handler module; the **handler edit** rewrites it
  so ``code`` answers the other letter;
- ``reload_heavy.py``: a generated helper of ``heavy_functions`` functions (and
  ``value()``), imported by ``reload_importer.py``, the ``heavy`` route's handler,
  which answers ``LOCAL + value()``. Two edits: the importer's ``LOCAL`` (the helper
  is not touched, so it stays imported), and the helper's ``value()`` (the helper is
  compiled and run again, and its importer re-imported with it).

Each round makes the four edits in turn, each a complete temp file and
``os.replace`` (as the reload case writes node.yaml). Figure: from the replace
to the first answer from the new code, read by sequential requests to the
edited route sent back to back from the driver (a round trip is ~0.3 ms). The
watcher waits for the files to hold still for 100 ms first, so every figure has
that floor; the ratio to the config-only edit is what the code adds.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from nodetool_gateway.gateway import LocalGateway

from ._harness import (
    TOKEN,
    Bench,
    Load,
    Proc,
    Row,
    median,
    wait_registered,
    write_node_config,
)

__all__ = ["code_reload"]

CASE = "code reload"


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def heavy_source(functions: int, value: str) -> str:
    """A helper module of ``functions`` small functions, and ``value()`` answering ``value``."""
    parts = ['"""Generated helpers (benchmarks/code_reload.py)."""\n']
    for i in range(functions):
        parts.append(f'''
def f{i:04d}(x, y={i}):
    """Helper {i}."""
    z = x * {i % 7 + 1} + y
    if z > {1000 + i}:
        return z - {i}
    return [z, x, y][z % 3]
''')
    parts.append(f'\n\ndef value():\n    return "{value}"\n')
    return "".join(parts)


def plain_source(value: str) -> str:
    return f'"""A handler module."""\n\nVALUE = "{value}"\n\n\nasync def which():\n    return VALUE\n'


def importer_source(local: str) -> str:
    return ('"""A handler module that imports a heavy helper."""\n\n'
            "from reload_heavy import f0000, value  # noqa: F401\n\n"
            f'LOCAL = "{local}"\n\n\nasync def which():\n    return LOCAL + value()\n')


CFG_SOURCE = 'async def answer_a():\n    return "a"\n\n\nasync def answer_b():\n    return "b"\n'


def _compile_ms(text: str, repeat: int = 5) -> float:
    """Median of compiling and running ``text`` as a module, in this process (ms)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        exec(compile(text, "reload_heavy.py", "exec"), {"__name__": "reload_heavy"})  # noqa: S102
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


async def code_reload(bench: Bench) -> list[Row]:
    s = bench.sizes
    folder = bench.tmp / "code-reload"
    folder.mkdir(parents=True, exist_ok=True)
    state = {"cfg": "a", "plain": "a", "local": "a", "heavy": "a"}
    gw = LocalGateway(auth_token=TOKEN)
    await gw.start()

    def write_config() -> None:
        write_node_config(folder / "node.yaml", gw.url, "node-code-reload", folder / "storage",
                          commands={"noop": "benchmarks._handlers:noop",
                                    "cfg": f"reload_cfg:answer_{state['cfg']}",
                                    "code": "reload_plain:which",
                                    "heavy": "reload_importer:which"})

    _replace(folder / "reload_cfg.py", CFG_SOURCE)
    _replace(folder / "reload_plain.py", plain_source(state["plain"]))
    _replace(folder / "reload_heavy.py", heavy_source(s.heavy_functions, state["heavy"]))
    _replace(folder / "reload_importer.py", importer_source(state["local"]))
    write_config()

    def flip(key: str) -> str:
        state[key] = "b" if state[key] == "a" else "a"
        return state[key]

    def edit_config() -> tuple[str, str]:
        flip("cfg")
        write_config()
        return "cfg", state["cfg"]

    def edit_plain() -> tuple[str, str]:
        _replace(folder / "reload_plain.py", plain_source(flip("plain")))
        return "code", state["plain"]

    def edit_importer() -> tuple[str, str]:
        _replace(folder / "reload_importer.py", importer_source(flip("local")))
        return "heavy", state["local"] + state["heavy"]

    def edit_heavy() -> tuple[str, str]:
        _replace(folder / "reload_heavy.py", heavy_source(s.heavy_functions, flip("heavy")))
        return "heavy", state["local"] + state["heavy"]

    edits = {"config": edit_config, "plain": edit_plain, "importer": edit_importer,
             "heavy": edit_heavy}
    times: dict[str, list[float]] = {name: [] for name in edits}
    missed: dict[str, int] = {name: 0 for name in edits}
    failed = polled = 0
    node = Proc.node(bench, folder / "node.yaml", "node-code-reload")
    load: Load | None = None
    try:
        node.start()
        await wait_registered(gw, node)
        load = await Load.connect(gw)
        await load.burst(node.node_id, count=s.warmup)
        for command, want in (("cfg", "a"), ("code", "a"), ("heavy", "aa")):
            answer = await _ask(load, node.node_id, command)
            if answer != want:
                raise RuntimeError(f"{command} answered {answer!r}, not {want!r}:\n{node.tail()}")
        await asyncio.sleep(1.0)  # the file watcher starts beside the session

        async def until(command: str, want: str, written: float) -> float | None:
            nonlocal failed, polled
            while time.perf_counter() - written < 5.0:
                answer = await _ask(load, node.node_id, command)
                polled += 1
                if answer is None:
                    failed += 1
                elif answer == want:
                    return time.perf_counter() - written
            return None

        for _ in range(max(s.code_reload_rounds, 1)):
            for name, edit in edits.items():
                command, want = edit()
                written = time.perf_counter()
                took = await until(command, want, written)
                if took is None:
                    missed[name] += 1
                else:
                    times[name].append(took * 1000)
                await asyncio.sleep(0.3)
        node.check()
    finally:
        if load is not None:
            await load.close()
        await node.stop()
        await gw.stop()

    if not times["config"]:
        raise RuntimeError(f"no config-only reload was seen within 5 s:\n{node.tail()}")
    base = median(times["config"])
    rounds = max(s.code_reload_rounds, 1)
    heavy_ms = _compile_ms(heavy_source(s.heavy_functions, "a"))
    heavy_size = len(heavy_source(s.heavy_functions, "a").encode())
    rows = []
    helper = f"{s.heavy_functions:,}-function helper"
    labels = {
        "config": "config-only edit (node.yaml names another function)",
        "plain": "handler module edited (baseline: config-only edit)",
        "importer": f"handler importing a {helper} edited, helper unchanged (baseline: config-only)",
        "heavy": f"the {helper} edited, re-imported with its importer (baseline: config-only)",
    }
    for name, label in labels.items():
        got = times[name]
        value = median(got) if got else None
        row = Row(CASE, f"written -> first new answer, median of {rounds}: {label}", value, None if name == "config" else base, "ms", "report",
                  None, digits=0)
        note = f"runs (ms): {_fmt(got)}"
        if name != "config" and got:
            note += f"; adds {value - base:+.0f} ms to a config-only reload"
        if name == "heavy":
            note += (f"; the helper is {heavy_size / 1000:,.0f} kB of source; compiling and "
                     f"running it in the driver: {heavy_ms:.0f} ms")
        if missed[name]:
            note += f"; {missed[name]} edit(s) not seen within 5 s"
        row.notes.append(note)
        rows.append(row)
    seen = sum(len(v) for v in times.values())
    row = Row(CASE, f"failed requests over {seen} reloads ({polled:,} sent)", failed, None, "",
              "0", failed == 0 and not any(missed.values()), digits=0)
    row.notes.append(f"error answers: {failed}; edits not seen within 5 s: "
                     f"{sum(missed.values())}")
    rows.append(row)
    return rows


async def _ask(load: Load, node_id: str, command: str) -> str | None:
    """One request; its result, or None for an error answer."""
    await load.ws.send(load.frame(node_id, command)[1])
    answer = await load.final()
    if answer.get("status") != "success":
        return None
    return answer.get("result")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)
