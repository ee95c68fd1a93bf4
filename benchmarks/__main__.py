"""``python -m benchmarks [--quick] [--only CASE,...]... [--speed] [--no-write]``.

Runs each case against the local gateway on loopback, prints the table and
writes benchmarks/RESULTS.md (its own mode's section). Exits 1 if a case could
not run (a MISSED target is a result, not a failure).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from . import code_reload, lifecycle, observability_cost, standalone, wire
from ._harness import FULL, QUICK, Bench, Row
from .report import RESULTS, machine, table, write_results

CaseFn = Callable[[Bench], Awaitable[list[Row]]]

# Name on the command line -> (label in the table, function). In the order.
CASES: dict[str, tuple[str, CaseFn]] = {
    "command": ("command path", wire.command_path),
    "throughput": ("throughput", wire.throughput),
    "latency": ("latency", wire.latency),
    "startup": ("start-up", lifecycle.startup),
    "memory": ("memory", wire.memory),
    "reconnect": ("reconnect", lifecycle.reconnect),
    "reload": ("reload", lifecycle.reload),
    "observability": ("observability", observability_cost.observability),
    "code-reload": ("code reload", code_reload.code_reload),
    "engine": ("engine", standalone.engine),
    "workflow": ("workflow end to end", wire.workflow),
    "openclaw": ("through OpenClaw", standalone.openclaw),
}
# Run the cases that share the node pair first, then close it; print in CASES order.
RUN_ORDER = ("command", "throughput", "latency", "workflow", "startup", "memory", "reconnect",
             "reload", "observability", "code-reload", "engine", "openclaw")
SHARED_PAIR = {"command", "throughput", "latency", "workflow"}

METHOD = """## Method

- **Process layout.** The driver process runs the local gateway (`LocalGateway`) and,
  for every case but throughput, the load generator (a raw websockets operator
  connection: preformatted request frames, acks skipped unparsed). What is measured runs
  in its own process: the node
  (`python -m nodetool_gateway run node.yaml` with a minimal config routing
  `noop: benchmarks._handlers:noop`, through `benchmarks/_launch.py`) or the baseline
  (`benchmarks/_bare_node.py`: a bare `websockets` client that registers, then parses each
  request and sends an `ack` and a tiny answer with the same `request_id`). CPU time is
  read from `/proc/PID/stat` (utime + stime, all threads) before and after the load, so
  start-up and idle time are excluded; RSS from `/proc/PID/status`.
- **Alternation.** Baseline and node are both registered on the same gateway and are
  loaded in turn, A B A B ...; each figure is the median of the runs listed above.
  Warm-up: 1,000 commands to each before the first run.
- **Throughput**: the driver runs only the gateway; the load comes from 2 separate load
  processes (`benchmarks/_load.py`), each with its own operator connection and 32 commands
  in flight. The measured process, the gateway and the load processes share the machine's
  cores, so the raw commands/s (reported, no target) is bound by the machine on 2 cores;
  its notes give the cores each process kept busy, the rest of the machine's busy time
  (`/proc/stat`) and what bound the rate. The target is judged on commands per CPU second
  of the measured process (commands / its CPU seconds over the run), node vs bare: the
  rate one core would give it were it the only limit.
- **Start-up**: `Popen` to the gateway holding the registration (`LocalGateway.wait_for_node`),
  after one unmeasured start of each so both read a warm page cache. The node runs
  `run node.yaml` as a user would (hot reload on).
- **Memory**: fresh processes per run; RSS one second after registration, and one second
  after the commands (64 in flight). The node keeps the last `limits.remember_answers`
  (10,000) answers by design, so part of its growth is that bounded record.
- **Reconnect**: the gateway is stopped (`LocalGateway.stop()`: connections closed with
  1001, listener closed) and a new one listens on the same port 1 s later; the figure is
  from "listening again" to the registration arriving, for each of 5 cycles, and the
  verdict takes the worst. The node runs with `retry: {initial_delay: 1s, jitter: 0.2}`
  (other retry settings at their defaults). What the target asks is that a gateway that
  is back is found within one initial delay (plus 100 ms): a node whose retry falls just
  before the gateway's return is refused and then waits for its next retry, so the figure
  is decided by the back-off schedule after a lost connection, not by the connect itself
  (a few ms). The per-cycle figures and the downtime (stop -> registered) show where each
  cycle's retries fell. The bare client retries every 1 s, fixed, and races the gateway's
  return the same way (its ~1.0 s cycles lost the race, its ~0 s ones won it).
- **Reload**: the node runs `run node.yaml` (hot reload on); the driver sends ~1,000
  requests/s to `which` while the config is rewritten 20 times (a complete temp file,
  then `os.replace`), switching it between `answer_a` and `answer_b`. Figure: from the
  replace to the first answer from the new handler reaching the driver. Every request
  must get a success answer ("a" or "b"). No baseline is possible.
- **Observability**: two nodes on one gateway with the same config (`noop` and 100 more
  no-op routes) but for `observability.listen: 127.0.0.1:0` (its port read from
  `/proc/PID/net/tcp`), loaded in turn, A B A B: listen on vs off. Latency as in the
  latency case; commands/s and node CPU per command with 5,000 no-ops 64 in flight; RSS
  before and after the first scrape and at the end. `/metrics` is scraped by
  `benchmarks/_scrape.py`, a process of its own (one connection per scrape), 30 back to
  back with 1 and with 101 routes answered. The stall: sequential no-ops for 1.5 s with a
  scrape every 100 ms, against the same without scrapes; the longest round trip is the
  longest the node's loop kept a request waiting (the attack suite's probe, sent back to
  back). Start-up on vs off in fresh processes; the import of prometheus_client timed
  after what `run` imports (`benchmarks/_import_probe.py`); `Observer.answered` timed in
  the driver (the dispatcher counts every answer whether the listener is on or not, so
  the on/off rows cannot show that part).
- **Code reload**: one node, `run node.yaml` with its handler modules in the config's
  folder, 8 rounds of four edits, each a complete temp file then `os.replace`: node.yaml
  names another function of an unchanged module (the config-only baseline); a small
  handler module; a handler that imports a generated 2,000-function helper (the helper
  unchanged); the helper itself (re-imported with its importer). Figure: the replace to
  the first answer from the new code, read by sequential requests to the edited route;
  the ratio is to the config-only edit. Every answer must be a success.
- **Engine**: `benchmarks/engine_overhead.py` in its own process, medians of alternating
  runs; overhead = engine µs/node with an async listener (every update delivered) minus
  the same arithmetic as plain awaited calls.
- **Workflow end to end**: `run_workflow` of the bundled `word-stats` through the gateway,
  its `workflow_update` frames streamed to the operator, alternating with batches of
  no-op commands on the same node. Per-update cost = (workflow p50 - no-op p50) /
  updates per run, so it also carries the workflow's own work.
- **Through OpenClaw**: `benchmarks/openclaw_roundtrip.py` (a real OpenClaw gateway; our
  node and a bare probe node in one process, timestamps around our node's socket).
- **Speed extra** (`--speed`): `_launch.py speed` installs uvloop's event loop policy and
  points the node's codec (`nodetool_gateway.protocols._json`) at orjson before the node
  starts; the bare baseline uses both too. In the default mode both are hidden from the
  node (import blocked), so the default table measures a plain install even in a venv
  where other extras brought them in.
"""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, one run each (a few seconds; skips OpenClaw unless --only)")
    parser.add_argument("--only", metavar="CASE,...", action="append",
                        help=f"run only these cases: {', '.join(CASES)} (or the names in the "
                             "table: start-up, command path...); repeat it or separate with commas")
    parser.add_argument("--skip", metavar="CASE,...", action="append",
                        help="run all cases but these")
    parser.add_argument("--speed", action="store_true",
                        help="run the node and the baseline with uvloop + orjson")
    parser.add_argument("--no-write", action="store_true", help="don't write RESULTS.md")
    parser.add_argument("--write", action="store_true",
                        help="write RESULTS.md even for --quick or --only runs")
    parser.add_argument("--out", metavar="FILE", type=Path,
                        help="write the results there instead of benchmarks/RESULTS.md")
    parser.add_argument("--profile", metavar="DIR", type=Path,
                        help="run each node process under cProfile; stats go to DIR/NODE_ID.prof")
    args = parser.parse_args(argv)
    for flag in ("only", "skip"):
        given = [n.strip() for value in getattr(args, flag) or () for n in value.split(",")
                 if n.strip()]
        unknown = [n for n in given if _folded(n) not in _CASE_NAMES]
        if unknown:
            parser.error(f"unknown case(s) for --{flag}: {', '.join(unknown)} "
                         f"(choose from {', '.join(CASES)})")
        setattr(args, flag, list(dict.fromkeys(_CASE_NAMES[_folded(n)] for n in given)))
    return args


def _folded(name: str) -> str:
    return "".join(c for c in name.casefold() if c.isalnum())


# Each case by its name and by its label in the table, as the READMEs spell them
# ("start-up", "command path"), ignoring case, spaces, hyphens and underscores.
_CASE_NAMES = {_folded(key): name for name, (label, _) in CASES.items() for key in (name, label)}


def _speed_available() -> list[str]:
    found = []
    for name in ("uvloop", "orjson"):
        try:
            __import__(name)
            found.append(name)
        except ImportError:
            pass
    return found


def _driver_loop() -> str:
    """uvloop for the driver when installed: a faster driver measures the node more sharply."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return f"uvloop {uvloop.__version__}"


async def _run(bench: Bench, names: list[str], say: Callable[[str], None]) -> tuple[list[Row], list[str]]:
    rows: dict[str, list[Row]] = {}
    errors: list[str] = []
    pending_pair = [n for n in names if n in SHARED_PAIR]
    try:
        for name in RUN_ORDER:
            if name not in names:
                continue
            label, fn = CASES[name]
            say(f"[{label}] running")
            start = time.perf_counter()
            try:
                rows[name] = await fn(bench)
            except Exception as exc:  # one broken case must not hide the others' figures
                errors.append(f"{label}: {type(exc).__name__}: {exc}")
                say(traceback.format_exc())
                rows[name] = [Row(label, f"could not run: {type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else ''}",
                                  None, None, "", "-", False)]
            say(f"[{label}] done in {time.perf_counter() - start:.1f} s")
            if name in pending_pair:
                pending_pair.remove(name)
                if not pending_pair:
                    await bench.close()
    finally:
        await bench.close()
    return [row for name in CASES if name in rows for row in rows[name]], errors


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    names = list(args.only) if args.only else [
        n for n in CASES if not (args.quick and n == "openclaw")]
    names = [n for n in names if n not in args.skip]
    skipped = [CASES[n][0] for n in CASES if n not in names]
    mode = "speed" if args.speed else "default"
    speed = _speed_available()
    if args.speed and len(speed) < 2:
        print(f"warning: --speed without {' and '.join({'uvloop', 'orjson'} - set(speed))} "
              "installed (pip install uvloop orjson): running with what there is", file=sys.stderr)
    driver = _driver_loop()
    info = machine(mode, speed if args.speed else [], driver)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    say(f"benchmarks: mode {mode}, {'quick' if args.quick else 'full'} sizes, cases: "
        f"{', '.join(names)}")
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nodetool-bench-") as tmp:
        bench = Bench(mode, QUICK if args.quick else FULL, Path(tmp), log=say,
                      profile_dir=args.profile.resolve() if args.profile else None)
        rows, errors = asyncio.run(_run(bench, names, say))

    print(f"\nmode: {mode}{' (quick sizes)' if args.quick else ''}")
    for name, value in info:
        if name not in ("mode",):
            print(f"{name}: {value}")
    print()
    print(table(rows))
    write = not args.no_write and (args.write or args.out is not None
                                   or not (args.quick or args.only or args.skip))
    if write:
        path = write_results(mode, rows, info, skipped, METHOD, args.out or RESULTS)
        print(f"\nwrote {path}")
    if errors:
        print("\ncases that could not run:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
