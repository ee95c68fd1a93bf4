"""nodetool.code.ExecutePython: off by default; on, each snippet runs in a process of its own."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from nodetool_gateway.config import Config
from nodetool_gateway.engine import WorkflowError, default_registry, run_workflow
from nodetool_gateway.services import Services

EXAMPLE = Path(__file__).parent.parent / "data" / "nodetool-examples-data" / "Execute Python.json"

# Each Preview of the example and what its snippet leaves in `result`, worked out by hand
# from the code in the file with Python's semantics (the inputs dict is the snippet's locals).
EXPECTED_PREVIEWS = {
    # inputs {key1: "Hello", key2: "Nodetool"}: result = key1 + " " + key2
    "5459a304-a8b0-4420-96cc-0b9ae1fa2b13": "Hello Nodetool",
    # round(3.14159 + 2.71828, 2) = round(5.85987, 2)
    "8f11e814-9009-4764-a411-09d43a9d5f78": 5.86,
    # the even items of [[1, 2], [3, 4]], flattened
    "3c3e1e56-e3cc-4702-b6d1-6d9cded953af": [2, 4],
    # all([True, True, False]) or any([True, True, False])
    "a7262012-f76b-4dcc-9398-9589f2b812cf": True,
    # "hello nodetool" split, each word capitalized, joined
    "c455e5a0-ea2d-469c-9c6e-b12911a63f57": "Hello Nodetool",
    # locals() is the inputs {key1: "Hello", key2: "Nodetool", key3: "!"}: strings longer than 3
    "6d27a214-fe49-4ed7-a08d-5cb1fc199add": {"key1": "Hello", "key2": "Nodetool"},
}


def services(**code: Any) -> Services:
    config = Config.model_validate({"code": code} if code else {})
    return Services.from_config(config, environ={})


def code_on(**limits: Any) -> Services:
    return services(execute_python=True, **limits)


def snippet_workflow(code: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ExecutePython whose result, stdout and stderr each reach a Preview."""
    nodes = [{"id": "py", "type": "nodetool.code.ExecutePython",
              "data": {"code": code, "inputs": inputs or {}}}]
    edges = []
    for handle in ("output", "stdout", "stderr"):
        nodes.append({"id": handle, "type": "nodetool.workflows.base_node.Preview",
                      "data": {"name": handle}})
        edges.append({"id": f"e-{handle}", "source": "py", "sourceHandle": handle,
                      "target": handle, "targetHandle": "value"})
    return {"graph": {"nodes": nodes, "edges": edges}}


def previews(events: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Preview node id -> the values its preview updates showed, in order."""
    found: dict[str, list[Any]] = {}
    for e in events:
        if e["type"] == "preview_update":
            found.setdefault(e["node_id"], []).append(e["value"])
    return found


async def run(workflow: dict[str, Any], svc: Services | None, events: list | None = None,
              on_event: Any = None):
    sink = events if events is not None else []
    return await run_workflow(workflow, registry=default_registry(), services=svc,
                              on_event=on_event or sink.append)


async def test_execute_python_example():
    """Runs NodeTool's Execute Python example and sends each snippet's result to its Preview."""
    workflow = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    events: list[dict[str, Any]] = []
    result = await run(workflow, code_on(timeout="30s"), events)
    assert result.status == "completed", result.error
    assert previews(events) == {node: [value] for node, value in EXPECTED_PREVIEWS.items()}
    assert result.outputs == {}  # Previews show values; they are no job outputs


@pytest.mark.parametrize("svc", [None, services(), services(execute_python=False)],
                         ids=["no-services", "default-config", "turned-off"])
async def test_off_is_a_validation_error(svc):
    """Refuses ExecutePython unless code.execute_python is on, saying what turning it on risks."""
    workflow = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    with pytest.raises(WorkflowError) as exc:
        await run(workflow, svc)
    assert exc.value.kind == "invalid"
    assert "code.execute_python: true" in str(exc.value)
    assert "file and network access of the user the node runs as" in str(exc.value)


async def test_snippet_that_loops_forever_is_stopped():
    """Kills a snippet that runs past code.timeout and fails the run naming the limit."""
    result = await run(snippet_workflow("import time\nwhile True:\n    time.sleep(0.05)"),
                       code_on(timeout="1s"))
    assert result.status == "failed"
    assert "stopped at its time limit of 1s (code.timeout)" in result.error


async def test_busy_loop_is_stopped():
    """Kills a snippet spinning on the CPU at code.timeout."""
    result = await run(snippet_workflow("while True:\n    pass"), code_on(timeout="1s"))
    assert result.status == "failed"
    assert "time limit" in result.error and "code.timeout" in result.error


async def test_memory_past_the_limit_fails_clearly():
    """Fails a snippet that allocates past code.memory with an out-of-memory error."""
    result = await run(snippet_workflow("block = bytearray(1024 ** 3)\nresult = len(block)"),
                       code_on(memory="128MiB"))
    assert result.status == "failed"
    assert "out of memory: it needed more than its limit of 128 MiB (code.memory)" in result.error


async def test_snippet_sees_no_secrets(monkeypatch, tmp_path):
    """Gives the snippet an environment built from scratch and an empty temporary folder."""
    monkeypatch.setenv("GATEWAY_AUTH_TOKEN", "fake-gateway-token")
    monkeypatch.setenv("OPENAI_API_KEY", "fake-openai-key")
    monkeypatch.setenv("GATEWAY_AUTH_TOKEN_FILE", str(tmp_path / "token"))
    code = ("import os\n"
            "result = {'env': dict(os.environ), 'cwd': os.getcwd(), 'files': os.listdir('.')}")
    events: list[dict[str, Any]] = []
    result = await run(snippet_workflow(code), code_on(), events)
    assert result.status == "completed", result.error
    [seen] = previews(events)["output"]
    assert sorted(seen["env"]) == ["HOME", "LANG", "LC_ALL", "PATH", "TMPDIR"]
    assert not any("fake" in value or str(tmp_path) in value for value in seen["env"].values())
    assert seen["cwd"] != os.getcwd() and "nodetool-code-" in seen["cwd"]
    assert seen["files"] == []


async def test_output_streams_while_the_snippet_runs(tmp_path):
    """Streams stdout and stderr lines as log updates and on their outputs while the snippet runs."""
    go = tmp_path / "go"
    # The snippet waits for a file the test writes only once it has seen "ready" arrive.
    code = ("import os, sys, time\n"
            "print('ready')\n"
            "while not os.path.exists(go):\n"
            "    time.sleep(0.01)\n"
            "print('careful', file=sys.stderr)\n"
            "result = 'done'")
    events: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        events.append(event)
        if event["type"] == "log_update" and event["content"] == "ready":
            go.touch()

    result = await run(snippet_workflow(code, {"go": str(go)}), code_on(timeout="60s"),
                       on_event=on_event)
    assert result.status == "completed", result.error
    logs = [(e["severity"], e["content"]) for e in events if e["type"] == "log_update"]
    assert logs == [("info", "ready"), ("error", "careful")]
    assert previews(events) == {"stdout": ["ready\n"], "stderr": ["careful\n"], "output": ["done"]}


async def test_error_in_snippet_fails_the_run_with_its_traceback():
    """Fails the run with the snippet's exception and streams its traceback on stderr."""
    events: list[dict[str, Any]] = []
    result = await run(snippet_workflow("x = 1\nresult = x / 0"), code_on(), events)
    assert result.status == "failed"
    assert "Error executing Python code: ZeroDivisionError: division by zero" in result.error
    stderr = "".join(previews(events).get("stderr", []))
    assert 'File "<code>", line 2' in stderr and "ZeroDivisionError" in stderr


async def test_result_must_be_json_data():
    """Fails with a clear message when the result cannot cross as JSON."""
    result = await run(snippet_workflow("result = object()"), code_on())
    assert result.status == "failed"
    assert "result holds a object, which is not JSON data" in result.error


async def test_cancelled_run_kills_the_snippet(tmp_path):
    """Kills the snippet's process when its run is cancelled."""
    pid_file = tmp_path / "pid"
    code = ("import os, time\n"
            "open(pid_file, 'w').write(str(os.getpid()))\n"
            "print('started')\n"
            "time.sleep(3600)")
    started = asyncio.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "log_update" and event["content"] == "started":
            started.set()

    task = asyncio.ensure_future(run(snippet_workflow(code, {"pid_file": str(pid_file)}),
                                     code_on(timeout="1h"), on_event=on_event))
    await started.wait()
    pid = int(pid_file.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_runs_in_a_worker_process(tmp_path):
    """Runs a snippet from a worker process (engine.isolation: process) in a process of its own."""
    from nodetool_gateway.backend import Backend
    from nodetool_gateway.config import default_config

    backend = Backend(default_config(storage={"path": str(tmp_path / "storage")},
                                     workflows={"paths": []}, engine={"workers": 1},
                                     code={"execute_python": True}))
    try:
        events: list[dict[str, Any]] = []

        async def on_event(event: dict[str, Any]) -> None:
            events.append(event)

        workflow = snippet_workflow("import os\nresult = [os.getpid(), os.getppid()]")
        result = await backend.run(workflow, {}, user_id="1", on_event=on_event)
        assert result["status"] == "completed", result
        [[pid, parent]] = previews(events)["output"]
        worker = backend.pool.workers[0].process.pid
        assert parent == worker and pid not in (worker, os.getpid())
    finally:
        await backend.close()


def test_snippet_dies_with_the_process_that_started_it(tmp_path):
    """Kills the snippet when the worker running it is killed (Linux)."""
    script = textwrap.dedent("""
        import asyncio, sys
        from nodetool_gateway.engine.library._python_process import Limits, run_snippet

        async def main():
            code = "import os, time\\nprint(os.getpid())\\ntime.sleep(3600)"
            async for name, line in run_snippet(code, {}, Limits(3600, 256 * 1024 ** 2, 4096)):
                print(line, end="", flush=True)

        asyncio.run(main())
    """)
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        snippet = int(worker.stdout.readline())
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        # The kernel kills the snippet with its parent; wait for init to reap it.
        for _ in range(500):
            if not _alive(snippet):
                break
            time.sleep(0.01)
        else:
            os.kill(snippet, signal.SIGKILL)
            pytest.fail("the snippet outlived the process that started it")
    finally:
        worker.kill()
        worker.wait()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


async def test_dynamic_inputs_and_stdin_reach_the_snippet():
    """Gives the snippet its dynamic inputs as locals beside inputs, and stdin as its stdin."""
    workflow = snippet_workflow("import sys\nresult = [x, y, sys.stdin.read().split()]", {"y": 3})
    node = workflow["graph"]["nodes"][0]
    node["dynamic_properties"] = {"x": 2, "y": 1}
    node["data"]["stdin"] = "first\nsecond\n"
    events: list[dict[str, Any]] = []
    result = await run(workflow, code_on(), events)
    assert result.status == "completed", result.error
    assert previews(events)["output"] == [[2, 3, ["first", "second"]]]
