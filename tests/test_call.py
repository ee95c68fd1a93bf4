"""`call` as a user runs it: real `serve` and `run` processes, a real terminal, on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from node_processes import free_port, stop, wait_for_line

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
EXE = [sys.executable, "-m", "nodetool_gateway"]
# The node imports sample_handlers from the tests folder.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)}


def spawn(*args: str, **kwargs) -> subprocess.Popen:
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([*EXE, *args], text=True, env=ENV, cwd=ROOT, **kwargs)


def node_yaml(folder: Path, port: int, node_id: str) -> Path:
    path = folder / f"{node_id}.yaml"
    path.write_text(
        f"gateway: {{url: 'ws://127.0.0.1:{port}'}}\n"
        f"node: {{id: {node_id}}}\n"
        f"storage: {{path: '{folder / node_id}'}}\n"
        "workflows: {paths: []}\n"
        "commands:\n"
        "  echo: sample_handlers:echo\n"
        "  hold: sample_handlers:hold\n"
        "  stream: sample_handlers:stream\n")
    return path


class Stack:
    """`serve` and one node (`run`), as processes; `call` runs against them."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.gateway = f"ws://127.0.0.1:{self.port}"
        self.serve = spawn("serve", "--port", str(self.port), "--insecure-no-auth")
        wait_for_line(self.serve.stderr, "listening")
        self.node = self.start_node("node-a")

    def start_node(self, node_id: str) -> subprocess.Popen:
        node = spawn("run", str(node_yaml(self.folder, self.port, node_id)), "--no-reload")
        wait_for_line(node.stderr, "registered with")
        return node

    def call(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*EXE, "call", *args, "--gateway", self.gateway, "--node", "node-a"],
                              capture_output=True, text=True, env=ENV, timeout=60, **kwargs)

    def start_call(self, *args: str, **kwargs) -> subprocess.Popen:
        return spawn("call", *args, "--gateway", self.gateway, **kwargs)

    def close(self) -> None:
        stop(self.node)
        stop(self.serve)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("call"))
    try:
        yield s
    finally:
        s.close()


def test_ctrl_c_cancels_the_request_on_the_node(stack):
    """Ctrl-C ends `call` with 130 and one line, and the node cancels the running handler."""
    call = stack.start_call("hold", "--args", '{"key": "ctrl-c"}', "--node", "node-a")
    wait_for_line(call.stderr, "accepted")
    call.send_signal(signal.SIGINT)
    _, err = call.communicate(timeout=30)
    assert call.returncode == 130, err
    assert re.search(r"^cancelled: Ctrl-C: asked the node to cancel hold \(request \w+\)$",
                     err, re.MULTILINE), err
    wait_for_line(stack.node.stderr, "hold ctrl-c: cancelled")


def test_timeout_cancels_the_request_on_the_node(stack):
    """--timeout ends `call` with 1, and the node cancels the running handler."""
    done = stack.call("hold", "--args", '{"key": "timeout"}', "--timeout", "0.5")
    assert done.returncode == 1, done.stderr
    assert "error: no answer within 0.5s: asked the node to cancel hold" in done.stderr
    wait_for_line(stack.node.stderr, "hold timeout: cancelled")


def test_a_node_that_dies_fails_the_call_at_once(stack):
    """A node killed mid-call fails `call` at once with NODE_DISCONNECTED, not after --timeout."""
    doomed = stack.start_node("node-doomed")
    try:
        call = stack.start_call("hold", "--args", '{"key": "doomed"}', "--node", "node-doomed",
                                "--timeout", "3600")
        wait_for_line(call.stderr, "accepted")
        doomed.kill()
        _, err = call.communicate(timeout=30)  # a guard: without the fix it waits an hour
    finally:
        stop(doomed)
    assert call.returncode == 1, err
    assert "[NODE_DISCONNECTED] node 'node-doomed' disconnected" in err


def test_node_option_routes_a_workflow_request(stack):
    """`call --node ID workflow_request` runs the workflow: node_id is not a handler argument."""
    args = json.dumps({"workflow_id": "temperature-table", "params": {"celsius": 100}})
    done = stack.call("workflow_request", "--args", args)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"]["fahrenheit"] == [212.0]


def test_json_prints_one_object_per_frame(stack):
    """--json prints each frame on stdout as one JSON object a line: updates, then the answer."""
    done = stack.call("stream", "--args", '{"n": 3}', "--json")
    assert done.returncode == 0, done.stderr
    frames = [json.loads(line) for line in done.stdout.splitlines()]
    assert [f["type"] for f in frames] == ["ack"] + ["workflow_update"] * 3 + ["command_response"]
    assert [f["data"]["progress"] for f in frames[1:4]] == [1, 2, 3]
    assert frames[-1]["status"] == "success"
    assert len({f["request_id"] for f in frames}) == 1
    assert "…" not in done.stderr  # no human progress beside it


def test_json_prints_an_error_frame_and_fails(stack):
    """--json prints a gateway error as its frame too, and exits 1."""
    done = subprocess.run([*EXE, "call", "echo", "--gateway", stack.gateway, "--node", "nobody",
                           "--json"], capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 1
    (frame,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert (frame["type"], frame["code"]) == ("error", "NO_NODE")


def read_terminal(fd: int, until: str | None = None) -> str:
    """What a program wrote to a pseudo-terminal: up to ``until``, or until it closed."""
    out = b""
    while until is None or until not in out.decode(errors="replace"):
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every writer has closed the terminal
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def test_progress_is_one_live_line_on_a_terminal(stack):
    """On a terminal, progress is one line rewritten in place (what runs, n/total, elapsed)."""
    main, secondary = os.openpty()
    try:
        call = stack.start_call("hold", "--args", '{"key": "tty", "steps": 2}', "--node", "node-a",
                                stderr=secondary)
        os.close(secondary)
        seen = read_terminal(main, until="2/2 · ")
        call.send_signal(signal.SIGINT)
        seen += read_terminal(main)
        call.wait(timeout=30)
    finally:
        os.close(main)
    assert call.returncode == 130, seen
    # Each state rewrites the same line: back to its start, erase, write.
    assert "\r\x1b[K… accepted · " in seen
    assert re.search(r"\r\x1b\[K… accepted · 2/2 · \d+\.\ds", seen), seen
    # No line per event, and the live line is erased before the last word.
    assert "… progress" not in seen
    (last,) = screen(seen)
    assert last.startswith("cancelled: Ctrl-C: asked the node to cancel hold"), seen
    wait_for_line(stack.node.stderr, "hold tty: cancelled")


def test_a_workflow_on_a_terminal_keeps_only_lasting_lines(stack):
    """A workflow on a terminal: node names on the live line, the job's end kept as a line."""
    main, secondary = os.openpty()
    try:
        call = stack.start_call("run_workflow", "--node", "node-a", "--args",
                                '{"workflow_id": "temperature-table", "params": {"celsius": 0}}',
                                stderr=secondary)
        os.close(secondary)
        seen = read_terminal(main)
        out, _ = call.communicate(timeout=30)
    finally:
        os.close(main)
    assert call.returncode == 0, seen
    assert json.loads(out)["outputs"]["fahrenheit"] == [32.0]
    assert seen.count("\r\x1b[K") > 2, seen  # rewritten in place
    # What is left on the screen: the job's end, the live line erased before the result.
    (last,) = screen(seen)
    assert re.fullmatch(r"… job completed in \d+\.\d{3}s", last), seen


def screen(text: str) -> list[str]:
    """The lines a terminal shows after ``text``: \\r goes back, ESC[K erases, \\n moves on."""
    lines, line, col = [], "", 0
    for token in re.findall(r"\x1b\[K|\r|\n|[^\r\n\x1b]+", text):
        if token == "\r":
            col = 0
        elif token == "\n":
            lines.append(line)
            line, col = "", 0
        elif token == "\x1b[K":
            line = line[:col]
        else:
            line = line[:col] + token + line[col + len(token):]
            col += len(token)
    return [*lines, line] if line else lines


def test_args_from_a_file_and_from_stdin(stack, tmp_path):
    """--args @FILE reads the arguments from a file, --args - from stdin."""
    path = tmp_path / "args.json"
    path.write_text('{"from": "file"}')
    done = stack.call("echo", "--args", f"@{path}")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"from": "file"}
    done = stack.call("echo", "--args", "-", input='{"from": "stdin"}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"from": "stdin"}


def test_bad_args_files_are_usage_errors_that_say_where(tmp_path):
    """Bad JSON in --args @FILE is a usage error (2, as inline) naming FILE:LINE:COL."""
    bad = tmp_path / "bad.json"
    bad.write_text('{"n": 2,\n "x" 1}')
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    for value, message in (
        (f"@{bad}", f"{bad}:2:6: not JSON: Expecting ':' delimiter"),
        (f"@{tmp_path / 'missing.json'}", f"cannot read {tmp_path / 'missing.json'}: No such file"),
        (f"@{listed}", f"{listed} must hold a JSON object, not list"),
        ("{nope", "line 1 column 2: not JSON"),
    ):
        done = subprocess.run([*EXE, "call", "echo", "--args", value, "--gateway",
                               f"ws://127.0.0.1:{free_port()}"], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2, (value, done.stderr)
        assert message in done.stderr, (value, done.stderr)
    done = subprocess.run([*EXE, "call", "echo", "--args", "-"], input="[", capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "stdin:1:2: not JSON" in done.stderr, done.stderr


@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete -o nosort -F _nodetool_gateway_completion nodetool-gateway"),
    ("zsh", "compdef _nodetool_gateway_completion nodetool-gateway"),
    ("fish", "complete --no-files --command nodetool-gateway"),
])
def test_shell_completion_script(shell, marker):
    """_NODETOOL_GATEWAY_COMPLETE=SHELL_source prints the completion script the README shows."""
    done = subprocess.run([*EXE], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "_NODETOOL_GATEWAY_COMPLETE": f"{shell}_source"})
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout


def test_shell_completion_completes_commands_and_options():
    """The completion the script asks for names commands and options."""
    def complete(*words: str) -> list[str]:
        done = subprocess.run([*EXE], capture_output=True, text=True, timeout=60, env={
            **os.environ, "_NODETOOL_GATEWAY_COMPLETE": "bash_complete",
            "COMP_WORDS": " ".join(["nodetool-gateway", *words]), "COMP_CWORD": str(len(words))})
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert "plain,call" in complete("ca")
    assert "plain,--log-format" in complete("run", "--log-f")


def test_log_options_override_the_config(tmp_path):
    """run --log-format json --log-level warning: JSON lines, no INFO, whatever the config says."""
    config = tmp_path / "node.yaml"
    config.write_text(f"gateway: {{url: 'ws://127.0.0.1:{free_port()}'}}\n"
                      "retry: {max_attempts: 2, initial_delay: 0.05, jitter: 0}\n"
                      "logging: {level: INFO, format: text}\n"
                      f"storage: {{path: '{tmp_path / 'storage'}'}}\n")
    node = subprocess.run([*EXE, "run", str(config), "--no-reload", "--log-format", "json",
                           "--log-level", "warning"], capture_output=True, text=True, timeout=60)
    assert node.returncode == 69, node.stderr
    lines = [json.loads(line) for line in node.stderr.splitlines()]
    assert lines and {line["level"] for line in lines} <= {"WARNING", "ERROR", "CRITICAL"}
    assert "gave up on gateway" in lines[-1]["message"]


def test_connect_takes_the_log_options():
    """connect --log-format json writes JSON log lines (it has no config to say so)."""
    node = spawn("connect", "--url", f"ws://127.0.0.1:{free_port()}", "--log-format", "json",
                 "--log-level", "DEBUG")
    try:
        line = wait_for_line(node.stderr, "cannot reach")[-1]
    finally:
        stop(node)
    assert json.loads(line)["level"] == "WARNING"


def test_log_level_choices_are_the_same_everywhere():
    """run, connect and serve take the same --log-level choices, the config's own."""
    from typing import get_args

    from nodetool_gateway.cli import cli
    from nodetool_gateway.config.models import LoggingConfig

    expected = set(get_args(LoggingConfig.model_fields["level"].annotation))
    for command in ("run", "connect", "serve"):
        (option,) = [p for p in cli.commands[command].params if p.name == "log_level"]
        assert set(option.type.choices) == expected, command


def test_nodes_lists_the_connected_nodes(stack):
    """`nodetool-gateway nodes` lists the gateway's connected nodes: id, status, commands,
    calls in flight, last heartbeat; --json gives the gateway's own entries."""
    run = [*EXE, "nodes", "--gateway", stack.gateway]
    table = subprocess.run(run, capture_output=True, text=True, env=ENV, timeout=60)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["NODE", "STATUS", "COMMANDS", "IN", "FLIGHT", "LAST", "HEARTBEAT"]
    mine = [r.split() for r in rows if r.split()[0] == "node-a"]
    assert len(mine) == 1 and mine[0][1] == "active", table.stdout
    listed = json.loads(subprocess.run([*run, "--json"], capture_output=True, text=True,
                                       env=ENV, timeout=60).stdout)
    [entry] = [n for n in listed if n["node_id"] == "node-a"]
    assert entry["connected"] is True and {"echo", "hold", "stream"} <= set(entry["commands"])
    assert all(n["connected"] for n in listed)


def test_nodes_names_an_unreachable_gateway():
    """No gateway there: one line naming it, exit 69."""
    done = subprocess.run([*EXE, "nodes", "--gateway", f"ws://127.0.0.1:{free_port()}"],
                          capture_output=True, text=True, env=ENV, timeout=60)
    assert done.returncode == 69, done.stderr
    assert "cannot reach the gateway at ws://127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr
