"""One file watcher per node: config, code and workflow folders share one inotify instance,
an idle watcher does not wake up, and a watcher that cannot start degrades and never
breaks shutdown. Real files, real watchers, real `run` processes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from conftest import TIME
from node_processes import EXE, call, local_gateway, spawn, stop, wait_for_line

from nodetool_gateway._watch import WatchHub
from nodetool_gateway.config import load
from nodetool_gateway.reload import ConfigWatcher
from nodetool_gateway.stores import WorkflowStore


def inotify_fds(pid: int | str = "self") -> int:
    """How many inotify instances a process holds (its fds that are inotify)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify"
        except OSError:  # closed meanwhile (listdir's own fd, say)
            pass
    return count


def watching(*folders: Path) -> list[set[Path]]:
    """For each inotify instance of this process that watches any of ``folders``: which."""
    inodes = {f"ino:{f.stat().st_ino:x} ": f.resolve() for f in folders}
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        mine = {folder for key, folder in inodes.items() if key in info}
        if mine:
            found.append(mine)
    return found


async def released(*folders: Path) -> None:
    """Wait until no inotify instance watches ``folders`` (a closed watcher's thread
    closes its instance a moment later)."""
    async with asyncio.timeout(5 * TIME):
        while watching(*folders):
            await asyncio.sleep(0.02)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workflow(name: str) -> str:
    return json.dumps({"name": name, "graph": {"nodes": [], "edges": []}})


def replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def node_config(tmp: Path, url: str, module: str, commands: dict[str, str],
                folders: list[Path]) -> str:
    body = "".join(f"  {name}: {module}:{fn}\n" for name, fn in commands.items())
    paths = ", ".join(f"'{f}'" for f in folders)
    return (f"gateway: {{url: '{url}'}}\nnode: {{id: one-watcher}}\n"
            f"storage: {{path: '{tmp / 'storage'}'}}\nworkflows: {{paths: [{paths}]}}\n"
            f"commands:\n{body}")


def until(check, what: str, timeout: float = 20 * TIME, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def names(url: str) -> set[str]:
    return {w["name"] for w in call(url, "list_workflows")["workflows"]}


def _unshare_works() -> bool:
    try:
        done = subprocess.run(["unshare", "-r", "sh", "-c",
                               "echo 0 > /proc/sys/user/max_inotify_instances"],
                              check=False, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


# A user namespace of its own whose inotify limit is 0: inotify_init fails for real in the
# node (EMFILE, as when the per-user limit is reached), and nobody else is affected.
NO_INOTIFY = ["unshare", "-r", "sh", "-c",
              'echo 0 > /proc/sys/user/max_inotify_instances && exec "$@"', "sh"]


@pytest.fixture
def node_files(tmp_path: Path):
    module = f"handlers_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("def greet(text=''):\n    return {'v': 1}\n")
    folder = tmp_path / "wf"
    folder.mkdir()
    (folder / "first.json").write_text(workflow("First"))
    return tmp_path, module, folder


def test_run_has_one_inotify_instance_and_follows_every_edit(node_files):
    """A `run` node watches its config, its handler module and its workflow folder with one
    inotify instance (there were two), picks up each kind of edit, idles without
    spending CPU, and exits 0 on SIGTERM."""
    tmp, module, folder = node_files
    with local_gateway() as url:
        config = tmp / "node.yaml"
        config.write_text(node_config(tmp, url, module, {"greet": "greet"}, [folder]))
        node = spawn([*EXE, "run", str(config)], cwd=tmp)
        try:
            wait_for_line(node, "registered with")
            # The config watcher starts once registered.
            until(lambda: inotify_fds(node.pid) == 1, "the config watch")
            assert names(url) >= {"First"}  # builds the backend: the workflow store subscribes
            # (When the watch is set up again over more folders, the old instance is
            # closed by its thread a moment later: wait for that, not for a new one.)
            until(lambda: inotify_fds(node.pid) == 1, "one inotify instance")

            replace(tmp / f"{module}.py", "def greet(text=''):\n    return {'v': 2}\n"
                                          "def shout(text=''):\n    return text.upper()\n")
            wait_for_line(node, "nodetool.gateway.reload: reloaded")
            assert call(url, "greet") == {"v": 2}

            replace(config, node_config(tmp, url, module, {"greet": "greet", "shout": "shout"},
                                        [folder]))
            wait_for_line(node, "nodetool.gateway.reload: reloaded")
            assert call(url, "shout", {"text": "hey"}) == "HEY"

            (folder / "second.json").write_text(workflow("Second"))
            until(lambda: "Second" in names(url), "the new workflow")
            until(lambda: inotify_fds(node.pid) == 1, "one inotify instance")

            # Idle: the watch blocks without a time-out (see test_idle_hub_does_not_wake_up);
            # a generous bound only, the node's own timers and heartbeats count too.
            before = cpu_seconds(node.pid)
            time.sleep(5)
            assert cpu_seconds(node.pid) - before < 0.5
        finally:
            rc, err = stop(node)
    assert rc == 0, err
    assert "Traceback" not in err and "WARNING" not in err, err


def test_no_reload_watches_only_the_workflow_folders(node_files, tmp_path):
    """--no-reload: one inotify instance for the workflow folders; none with `paths: []`."""
    tmp, module, folder = node_files
    with local_gateway() as url:
        config = tmp / "node.yaml"
        config.write_text(node_config(tmp, url, module, {"greet": "greet"}, [folder]))
        node = spawn([*EXE, "run", str(config), "--no-reload"], cwd=tmp)
        try:
            wait_for_line(node, "registered with")
            assert names(url) >= {"First"}
            (folder / "second.json").write_text(workflow("Second"))
            until(lambda: "Second" in names(url), "the new workflow")
            until(lambda: inotify_fds(node.pid) == 1, "one inotify instance")
            replace(tmp / f"{module}.py", "def greet(text=''):\n    return {'v': 2}\n")
            time.sleep(0.5)
            assert call(url, "greet") == {"v": 1}  # not reloaded
        finally:
            rc, err = stop(node)
        assert rc == 0, err

        config.write_text(node_config(tmp, url, module, {"greet": "greet"}, []))
        node = spawn([*EXE, "run", str(config), "--no-reload"], cwd=tmp)
        try:
            wait_for_line(node, "registered with")
            names(url)
            assert inotify_fds(node.pid) == 0
        finally:
            rc, err = stop(node)
        assert rc == 0, err


@pytest.mark.skipif(not _unshare_works(), reason="needs `unshare -r` (user namespaces)")
def test_node_without_inotify_polls_and_still_exits_0(node_files):
    """When no inotify instance can be had (the per-user limit), the node logs one
    warning, polls instead (edits are still picked up) and SIGTERM exits 0; it used to
    exit 1 with WatchfilesRustInternalError "Too many open files"."""
    tmp, module, folder = node_files
    with local_gateway() as url:
        config = tmp / "node.yaml"
        config.write_text(node_config(tmp, url, module, {"greet": "greet"}, [folder]))
        node = spawn([*NO_INOTIFY, *EXE, "run", str(config)], cwd=tmp)
        try:
            lines = wait_for_line(node, "registered with")
            lines += wait_for_line(node, "polling them every 2s instead")
            assert "fs.inotify.max_user_instances" in lines[-1]
            assert names(url) >= {"First"}
            replace(config, node_config(tmp, url, module, {"greet": "greet", "hello": "greet"},
                                        [folder]))
            lines += wait_for_line(node, "nodetool.gateway.reload: reloaded")
            assert call(url, "hello") == {"v": 1}
            (folder / "second.json").write_text(workflow("Second"))
            until(lambda: "Second" in names(url), "the new workflow")
            assert inotify_fds(node.pid) == 0
        finally:
            rc, err = stop(node)
    assert rc == 0, err
    warnings = [line for line in [*lines, *err.splitlines()] if "WARNING" in line]
    assert len(warnings) == 1, warnings
    assert "Traceback" not in err and "Too many open files" not in err


# In-process: the hub itself.


class Seen:
    """A subscriber that keeps what it is given."""

    debounce_ms, step_ms = 500, 20

    def __init__(self, folder: Path):
        self.folder = folder
        self.batches: asyncio.Queue = asyncio.Queue()
        self.ready = asyncio.Event()

    def watch_dirs(self):
        return [self.folder]

    def accept(self, change, path: str) -> bool:
        return Path(path).parent == self.folder

    def changed(self, changes) -> None:
        self.batches.put_nowait(changes)

    def watching(self, reopened: bool) -> None:
        self.ready.set()


async def _hub(hub: WatchHub, *subs: Seen):
    task = asyncio.create_task(hub.run())
    for sub in subs:
        hub.subscribe(sub)
        await asyncio.wait_for(sub.ready.wait(), 5 * TIME)
    return task


async def _end(task: asyncio.Task) -> None:
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2 * TIME)
    assert task in done


@pytest.mark.asyncio
async def test_idle_hub_does_not_wake_up(tmp_path: Path):
    """The blocking watch has no time-out: idle, it never comes back to Python; a change
    brings it back once, with the change."""
    hub = WatchHub()
    assert hub.timeout_ms == 0
    sub = Seen(tmp_path.resolve())
    task = await _hub(hub, sub)
    try:
        await asyncio.sleep(1)
        assert hub.returns == 0 and hub.mode == "native"
        (tmp_path / "a.txt").write_text("x")
        batch = await asyncio.wait_for(sub.batches.get(), 5 * TIME)
        assert {Path(p).name for _c, p in batch} == {"a.txt"}
        assert hub.returns == 1
    finally:
        await _end(task)


@pytest.mark.asyncio
async def test_config_and_workflows_share_one_inotify_instance(tmp_path: Path):
    """A ConfigWatcher and a WorkflowStore on one hub hold one inotify instance between
    them, over two folders, and both get their changes; the hub closes it when cancelled."""
    config_dir, folder = tmp_path / "conf", tmp_path / "wf"
    config_dir.mkdir()
    folder.mkdir()
    path = config_dir / "node.yaml"
    path.write_text("gateway: {url: 'ws://127.0.0.1:9'}\nworkflows: {paths: []}\n")
    applied: list = []

    async def apply(snapshot) -> None:
        applied.append(snapshot)

    hub = WatchHub()
    hub_task = asyncio.create_task(hub.run())
    watcher = ConfigWatcher(path, apply, current=load(path), step_ms=20, debounce_ms=500)
    store = WorkflowStore([folder])
    stop = asyncio.Event()
    tasks = [asyncio.create_task(watcher.run(stop, hub=hub)),
             asyncio.create_task(store.watch(stop, debounce=500, step=20, hub=hub))]
    try:
        await asyncio.wait_for(watcher.ready.wait(), 5 * TIME)
        await asyncio.wait_for(store.wait_watching(), 5 * TIME)
        assert watching(config_dir, folder) == [{config_dir.resolve(), folder.resolve()}]
        assert set(hub.dirs) == {config_dir.resolve(), folder.resolve()}

        changed = store.changed
        (folder / "new.json").write_text(workflow("New"))
        async with asyncio.timeout(10 * TIME):
            while store.get("new") is None:
                changed = await store.wait_changed(changed)
        replace(path, "gateway: {url: 'ws://127.0.0.1:9'}\nworkflows: {paths: []}\n"
                      "commands: {list_models: null}\n")
        async with asyncio.timeout(10 * TIME):
            while not applied:
                await asyncio.sleep(0.02)
        assert len(watching(config_dir, folder)) == 1 and hub.opened == 1
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5 * TIME)
        await _end(hub_task)
    await released(config_dir, folder)


@pytest.mark.asyncio
async def test_store_on_its_own_runs_its_own_hub(tmp_path: Path):
    """WorkflowStore.watch without a hub (a Backend built without `run`) still works, with
    one instance, and none when there are no folders."""
    store = WorkflowStore([])
    task = asyncio.create_task(store.watch())
    await asyncio.wait_for(store.wait_watching(), 5 * TIME)
    assert store._watching.is_set()  # nothing to watch is fine too
    await _end(task)

    folder = tmp_path / "later"
    store = WorkflowStore([folder])
    task = asyncio.create_task(store.watch(debounce=300, step=20))
    try:
        await asyncio.wait_for(store.wait_watching(), 5 * TIME)
        assert watching(tmp_path) == [{tmp_path.resolve()}]  # the nearest existing parent
        changed = store.changed
        folder.mkdir()
        (folder / "x.json").write_text(workflow("X"))
        async with asyncio.timeout(10 * TIME):
            while store.get("x") is None:
                changed = await store.wait_changed(changed)
        await released(tmp_path)  # set up again over the new folder: the old one is gone
        assert watching(tmp_path, folder) == [{folder.resolve()}]
    finally:
        await _end(task)
    await released(tmp_path, folder)


@pytest.mark.asyncio
async def test_forced_polling_uses_no_inotify_and_still_sees_changes(tmp_path: Path):
    """The fallback mode on its own: polling, no inotify instance, changes delivered."""
    hub = WatchHub(force_polling=True)
    sub = Seen(tmp_path.resolve())
    task = await _hub(hub, sub)
    try:
        assert hub.mode == "polling" and watching(tmp_path) == []
        (tmp_path / "b.txt").write_text("x")
        batch = await asyncio.wait_for(sub.batches.get(), 10 * TIME)
        assert {Path(p).name for _c, p in batch} == {"b.txt"}
    finally:
        await _end(task)
