"""Run a module or script as the default install or with the ``speed`` extra.

    python benchmarks/_launch.py default -m nodetool_gateway run node.yaml
    python benchmarks/_launch.py speed   -m nodetool_gateway run node.yaml
    python benchmarks/_launch.py speed   benchmarks/engine_overhead.py --json

``default`` hides uvloop and orjson from the process (they arrive in this venv
with other extras, e.g. chromadb pulls both), so it measures what a plain
``pip install nodetool-gateway`` runs: ``python -m nodetool_gateway run
node.yaml`` exactly, on asyncio's own loop and the standard ``json``.

``speed`` installs uvloop's event loop policy and points the node's JSON codec
(``nodetool_gateway.protocols._json``: every frame the node reads or writes)
at orjson, when they are installed. The node has no switch for either yet, so
this is done from outside, before the node's code runs.

With ``NODETOOL_BENCH_PROFILE=FILE`` in the environment the program runs under
cProfile and the stats are written to FILE when it exits (SIGTERM drains the
node and exits normally, so the stats are written then).
"""

from __future__ import annotations

import os
import runpy
import sys

__all__ = ["block_speedups", "enable_speedups"]

SPEEDUPS = ("uvloop", "orjson")


class _Blocker:
    """Makes ``import uvloop`` / ``import orjson`` fail as if not installed.

    A meta path finder needs only ``find_spec``; importlib.abc would cost ~18 ms of start-up.
    """

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001
        if fullname.partition(".")[0] in SPEEDUPS:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden: default install)",
                                      name=fullname)
        return None


def block_speedups() -> None:
    """Hide the speed extra from this process."""
    sys.meta_path.insert(0, _Blocker())


def enable_speedups() -> dict[str, str]:
    """uvloop as the event loop and orjson in the node's codec; returns what was enabled."""
    enabled: dict[str, str] = {}
    try:
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        enabled["uvloop"] = uvloop.__version__
    except ImportError:
        pass
    try:
        import orjson
    except ImportError:
        return enabled
    enabled["orjson"] = orjson.__version__
    try:
        import nodetool_gateway.protocols as protocols  # noqa: F401  (loads every codec)
        from nodetool_gateway.protocols import _json
    except ImportError:
        return enabled  # not the node (e.g. the engine benchmark): nothing to patch
    old_dumps, old_loads = _json.dumps, _json.loads
    default = getattr(_json, "_default", None)
    options = orjson.OPT_NON_STR_KEYS

    def dumps(obj, _dumps=orjson.dumps, _default=default, _options=options) -> str:  # noqa: ANN001
        return _dumps(obj, default=_default, option=_options).decode()

    # The codecs import the names, so replace them wherever they were imported.
    for name, module in list(sys.modules.items()):
        if not name.startswith("nodetool_gateway") or module is None:
            continue
        if getattr(module, "dumps", None) is old_dumps:
            module.dumps = dumps
        if getattr(module, "loads", None) is old_loads:
            module.loads = orjson.loads
    return enabled


def _profile(path: str) -> None:
    import atexit
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()

    def dump() -> None:
        profiler.disable()
        profiler.dump_stats(path)

    atexit.register(dump)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in ("default", "speed"):
        sys.exit("usage: _launch.py default|speed (-m MODULE | SCRIPT) [ARGS...]")
    mode, rest = argv[0], argv[1:]
    if mode == "default":
        block_speedups()
    else:
        enable_speedups()
    if os.environ.get("NODETOOL_BENCH_PROFILE"):
        _profile(os.environ["NODETOOL_BENCH_PROFILE"])
    if rest[0] == "-m":
        module, args = rest[1], rest[2:]
        sys.argv = [module, *args]
        sys.path[0] = os.getcwd()  # as `python -m` has it
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script, args = rest[0], rest[1:]
        sys.argv = [script, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
