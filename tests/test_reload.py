"""Hot reload with real files: swap routes on the same connection, survive bad edits."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import sample_handlers
from conftest import TIME, GatewayPeer

from nodetool_gateway import GatewayClient
from nodetool_gateway.config import load
from nodetool_gateway.reload import ConfigWatcher

pytestmark = pytest.mark.asyncio

TEMPLATE = """\
gateway:
  url: "{url}"
node:
  id: reload-node
retry: {{initial_delay: 0.05, max_delay: 0.2, jitter: 0}}
shutdown: {{grace: 2s}}
commands:
{commands}
"""


def write(path: Path, url: str, commands: dict[str, str]) -> None:
    body = "\n".join(f"  {name}: {target}" for name, target in commands.items())
    # Write then rename, as editors do, so the watcher never reads half a file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(TEMPLATE.format(url=url, commands=body))
    tmp.replace(path)


class Reloading:
    """A node with a watcher on a real config file, as `run node.yaml` has."""

    def __init__(self, path: Path, **options):
        self.path = path
        self.snapshot = load(path)
        self.client = GatewayClient(snapshot=self.snapshot)
        self.applied: asyncio.Queue = asyncio.Queue()

        async def apply(snapshot) -> None:
            await self.client.apply(snapshot)
            await self.applied.put(snapshot)

        options = {"step_ms": 20, "debounce_ms": 500, **options}
        self.watcher = ConfigWatcher(path, apply, current=self.snapshot, **options)

    async def __aenter__(self):
        self.stop = asyncio.Event()
        self.node = asyncio.create_task(self.client.run())
        self.watch = asyncio.create_task(self.watcher.run(self.stop))
        await asyncio.wait_for(self.watcher.ready.wait(), 5 * TIME)
        return self

    async def __aexit__(self, *exc):
        self.stop.set()
        self.client.stop()
        await asyncio.wait_for(asyncio.gather(self.node, self.watch, return_exceptions=True),
                               10 * TIME)

    async def next_applied(self):
        return await asyncio.wait_for(self.applied.get(), 5 * TIME)


async def test_reload_swaps_route_on_same_connection(peer, tmp_path):
    """Editing a route's handler takes effect on the same connection, no re-registration."""
    path = tmp_path / "node.yaml"
    write(path, peer.url, {"greet": "sample_handlers:custom"})
    async with Reloading(path) as node:
        conn, reg = await peer.registered()
        assert (await conn.call("greet", {"text": "a"}))["result"] == {"got": "a", "rest": {}}
        write(path, peer.url, {"greet": "sample_handlers:other"})
        await node.next_applied()
        assert (await conn.call("greet", {"text": "b"}))["result"] == {"other": "b"}
        assert node.watcher.succeeded == 1
    assert len(peer.all_connections) == 1
    assert [f["type"] for f in conn.received].count("node_registration") == 1


async def test_running_call_finishes_on_old_handler(peer, tmp_path):
    """A call already running when the routes swap finishes on the handler it started with."""
    path = tmp_path / "node.yaml"
    write(path, peer.url, {"work": "sample_handlers:gate"})
    async with Reloading(path) as node:
        conn, _ = await peer.registered()
        rid = await conn.command("work", {"key": "old"})
        await sample_handlers.started("old").wait()
        write(path, peer.url, {"work": "sample_handlers:echo"})
        await node.next_applied()
        assert (await conn.call("work", {"key": "new"}))["result"] == {"key": "new"}
        sample_handlers.gate_for("old").set()
        assert (await conn.answer_for(rid))["result"] == {"key": "old", "result": None}


async def test_invalid_reload_keeps_last_good_config(peer, tmp_path, caplog):
    """A broken edit logs one error with file and line; the old routes keep serving."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    path = tmp_path / "node.yaml"
    write(path, peer.url, {"greet": "sample_handlers:custom"})
    async with Reloading(path) as node:
        conn, _ = await peer.registered()
        text = path.read_text().replace("node:\n", "node:\n  colour: blue\n")
        path.write_text(text)
        while node.watcher.failed == 0:
            await asyncio.sleep(0.02)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert f"{path}:4:3: node.colour: Extra inputs are not permitted" in errors[0].getMessage()
        assert (await conn.call("greet", {"text": "still"}))["result"]["got"] == "still"
        # An unimportable handler is refused the same way.
        write(path, peer.url, {"greet": "no_such_module:fn"})
        while node.watcher.failed < 2:
            await asyncio.sleep(0.02)
        assert "no_such_module" in caplog.records[-1].getMessage()
        assert (await conn.call("greet", {"text": "again"}))["result"]["got"] == "again"
        # The next good edit applies.
        write(path, peer.url, {"greet": "sample_handlers:other"})
        await node.next_applied()
        assert (await conn.call("greet", {"text": "c"}))["result"] == {"other": "c"}
    assert len(peer.all_connections) == 1


async def test_reload_that_adds_a_command_reregisters(peer, tmp_path):
    """A reload that changes what the node offers sends a new registration on the same socket."""
    path = tmp_path / "node.yaml"
    write(path, peer.url, {"greet": "sample_handlers:custom"})
    async with Reloading(path) as node:
        conn, reg = await peer.registered()
        assert "shout" not in reg["capabilities"]["commands"]
        write(path, peer.url, {"greet": "sample_handlers:custom", "shout": "sample_handlers:echo"})
        await node.next_applied()
        reg2 = await conn.recv("node_registration")
        assert "shout" in reg2["capabilities"]["commands"]
        assert (await conn.call("shout", {"x": 1}))["result"] == {"x": 1}
    assert len(peer.all_connections) == 1


async def test_url_change_reconnects_without_losing_an_answer(peer, tmp_path):
    """A new gateway URL closes the old connection cleanly and answers go to the new one."""
    other = await GatewayPeer().start()
    try:
        path = tmp_path / "node.yaml"
        write(path, peer.url, {"work": "sample_handlers:gate"})
        async with Reloading(path) as node:
            conn, _ = await peer.registered()
            rid = await conn.command("work", {"key": "moving"})
            await sample_handlers.started("moving").wait()
            write(path, other.url, {"work": "sample_handlers:gate"})
            await node.next_applied()
            await conn.closed.wait()
            assert conn.ws.close_code == 1000
            conn2, _ = await other.registered()
            sample_handlers.gate_for("moving").set()
            answer = await conn2.answer_for(rid)
            assert answer["status"] == "success"
    finally:
        await other.stop()


async def test_half_written_file_is_not_applied(peer, tmp_path):
    """A file written in two pieces is applied once, whole, though its first half is valid."""
    path = tmp_path / "node.yaml"
    write(path, peer.url, {"greet": "sample_handlers:custom"})
    whole = TEMPLATE.format(url=peer.url, commands="  greet: sample_handlers:other\n"
                                                   "  shout: sample_handlers:echo")
    half = whole[: whole.index("  shout:")]  # a valid config on its own: greet -> other
    async with Reloading(path, settle_ms=int(200 * TIME)) as node:
        conn, _ = await peer.registered()
        with path.open("w") as f:
            f.write(half)
            f.flush()
            # The writer pauses: the watcher sees the half, and the rest comes within
            # the settle period (a watcher that read at once would apply the half).
            while node.watcher.changes == 0:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05 * TIME)
            f.write(whole[len(half):])
        applied = await node.next_applied()
        assert set(applied.routes.commands) >= {"greet", "shout"}
        assert (await conn.call("greet", {"text": "x"}))["result"] == {"other": "x"}
        assert (await conn.call("shout", {"x": 1}))["result"] == {"x": 1}
        assert node.watcher.succeeded == 1 and node.applied.empty()


async def test_file_that_keeps_changing_is_applied_when_it_stops(peer, tmp_path):
    """A file still being written after settle_max is tried again later, and applied once."""
    path = tmp_path / "node.yaml"
    write(path, peer.url, {"greet": "sample_handlers:custom"})
    settle = 0.05 * TIME
    async with Reloading(path, settle_ms=int(settle * 1000), settle_max_ms=int(settle * 3000)) as node:
        conn, _ = await peer.registered()
        write(path, peer.url, {"greet": "sample_handlers:other"})
        # Appending comments every settle/2 keeps the file changing past settle_max.
        deadline = asyncio.get_running_loop().time() + 5 * TIME
        with path.open("a") as f:
            while node.watcher.unsettled == 0:
                assert asyncio.get_running_loop().time() < deadline, "never seen as unsettled"
                f.write("# still writing\n")
                f.flush()
                await asyncio.sleep(settle / 2)
        assert node.watcher.succeeded == 0
        applied = await node.next_applied()
        assert applied.routes.commands["greet"].target == "sample_handlers:other"
        assert (await conn.call("greet", {"text": "x"}))["result"] == {"other": "x"}


@pytest.mark.parametrize("delay_ms", [0, 3, 10, 20, 40])
async def test_edit_while_the_watch_starts_is_applied(tmp_path, delay_ms):
    """`run` starts the watch a little after the node (once registered); an edit made
    while the watch is being set up has no event of its own and is caught up."""
    path = tmp_path / "node.yaml"
    write(path, "ws://127.0.0.1:9", {"greet": "sample_handlers:custom"})
    applied: list = []

    async def apply(snapshot) -> None:
        applied.append(snapshot)

    watcher = ConfigWatcher(path, apply, current=load(path), step_ms=20, debounce_ms=500)
    stamp = watcher.stamp()
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop, since=stamp))
    await asyncio.sleep(delay_ms / 1000)
    write(path, "ws://127.0.0.1:9", {"greet": "sample_handlers:echo"})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3 * TIME
    while not applied and loop.time() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5 * TIME)
    assert len(applied) == 1
    assert applied[0].routes.commands["greet"].target == "sample_handlers:echo"


# The user's code: handler and node modules are imported afresh when their files change.

CODE_CONFIG = """\
gateway: {{url: "{url}"}}
node: {{id: code-node}}
storage: {{path: "{storage}"}}
workflows: {{paths: []}}
engine: {{workers: 1}}
nodes: {{modules: [{nodes}]}}
commands:
{commands}
"""


def write_code(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def code_config(path: Path, url: str, commands: dict[str, str], nodes: str = "") -> None:
    body = "\n".join(f"  {name}: {target}" for name, target in commands.items())
    write_code(path, CODE_CONFIG.format(url=url, storage=path.parent / "storage", nodes=nodes,
                                        commands=body))


def unique(prefix: str) -> str:
    import uuid

    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def test_edited_handler_runs_its_new_code(peer, tmp_path):
    """An edited handler body is imported afresh; a new function can be routed to at once."""
    mod = unique("handlers")
    write_code(tmp_path / f"{mod}.py", "def greet(text):\n    return {'v': 1, 'text': text}\n")
    path = tmp_path / "node.yaml"
    code_config(path, peer.url, {"greet": f"{mod}:greet"})
    async with Reloading(path) as node:
        conn, _ = await peer.registered()
        assert (await conn.call("greet", {"text": "a"}))["result"] == {"v": 1, "text": "a"}
        # Only the code changes: the config file is untouched.
        write_code(tmp_path / f"{mod}.py", "def greet(text):\n    return {'v': 22, 'text': text}\n")
        await node.next_applied()
        assert (await conn.call("greet", {"text": "b"}))["result"] == {"v": 22, "text": "b"}
        # A new function and a route to it, in one edit of each file.
        write_code(tmp_path / f"{mod}.py", "def greet(text):\n    return {'v': 22, 'text': text}\n"
                                           "def shout(text):\n    return text.upper()\n")
        code_config(path, peer.url, {"greet": f"{mod}:greet", "shout": f"{mod}:shout"})
        applied = await node.next_applied()
        while "shout" not in applied.routes.commands:  # the two files may land in two reloads
            applied = await node.next_applied()
        assert (await conn.call("shout", {"text": "hey"}))["result"] == "HEY"
        assert node.watcher.failed == 0
    assert len(peer.all_connections) == 1


async def test_running_call_finishes_on_its_old_code(peer, tmp_path):
    """A call running when its module is reloaded finishes on the code it started with."""
    mod = unique("slow")
    source = ("import sample_handlers\n"
              "async def work(key):\n"
              "    sample_handlers.started(key).set()\n"
              "    await sample_handlers.gate_for(key).wait()\n"
              "    return {{'version': {v}, 'key': key}}\n")
    write_code(tmp_path / f"{mod}.py", source.format(v=1))
    path = tmp_path / "node.yaml"
    code_config(path, peer.url, {"work": f"{mod}:work"})
    async with Reloading(path) as node:
        conn, _ = await peer.registered()
        rid = await conn.command("work", {"key": "code-old"})
        await sample_handlers.started("code-old").wait()
        write_code(tmp_path / f"{mod}.py", source.format(v=2))
        await node.next_applied()
        sample_handlers.gate_for("code-new").set()
        assert (await conn.call("work", {"key": "code-new"}))["result"] == {"version": 2,
                                                                           "key": "code-new"}
        sample_handlers.gate_for("code-old").set()
        assert (await conn.answer_for(rid))["result"] == {"version": 1, "key": "code-old"}


async def test_module_that_no_longer_imports_keeps_the_last_good_code(peer, tmp_path, caplog):
    """A handler module broken by an edit is a reload failure; the old code keeps serving."""
    caplog.set_level(logging.INFO, logger="nodetool.gateway")
    mod, helper = unique("handlers"), unique("helpers")
    # The handler imports a helper from the same folder: editing the helper reloads both.
    write_code(tmp_path / f"{helper}.py", "def word():\n    return 'one'\n")
    write_code(tmp_path / f"{mod}.py", f"from {helper} import word\n"
                                       "def greet():\n    return word()\n")
    path = tmp_path / "node.yaml"
    code_config(path, peer.url, {"greet": f"{mod}:greet"})
    async with Reloading(path) as node:
        conn, _ = await peer.registered()
        assert (await conn.call("greet", {}))["result"] == "one"
        write_code(tmp_path / f"{helper}.py", "def word(:\n    return 'broken'\n")
        while node.watcher.failed == 0:
            await asyncio.sleep(0.02)
        error = [r for r in caplog.records if r.levelno >= logging.ERROR][-1].getMessage()
        assert "still serving the last good config" in error and helper in error
        assert "SyntaxError" in error
        assert (await conn.call("greet", {}))["result"] == "one"
        write_code(tmp_path / f"{helper}.py", "def word():\n    return 'three'\n")
        await node.next_applied()
        assert (await conn.call("greet", {}))["result"] == "three"


async def test_edited_node_module_runs_its_new_code_in_the_workers(peer, tmp_path):
    """An edited node type (nodes.modules) runs its new code in fresh worker processes."""
    mod = unique("nodes")
    source = ("from nodetool_gateway.engine import node\n"
              "NAMESPACE = '{mod}'\n"
              "@node\n"
              "def Tag(text: str = '') -> str:\n"
              "    return text + '{tag}'\n")
    write_code(tmp_path / f"{mod}.py", source.format(mod=mod, tag="-v1"))
    path = tmp_path / "node.yaml"
    code_config(path, peer.url, {}, nodes=mod)
    graph = {"nodes": [{"id": "n", "type": f"{mod}.Tag", "data": {"text": "x"}},
                       {"id": "o", "type": "nodetool.output.Output", "data": {"name": "out"}}],
             "edges": [{"id": "e", "source": "n", "sourceHandle": "output", "target": "o",
                        "targetHandle": "value"}]}
    async with Reloading(path) as node:
        conn, _ = await peer.registered()
        first = await conn.call("run_workflow", {"graph": graph})
        assert first["result"]["outputs"] == {"out": ["x-v1"]}, first
        write_code(tmp_path / f"{mod}.py", source.format(mod=mod, tag="-version2"))
        await node.next_applied()
        second = await conn.call("run_workflow", {"graph": graph})
        assert second["result"]["outputs"] == {"out": ["x-version2"]}, second
