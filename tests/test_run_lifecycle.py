"""`run` over a node's life, as real processes: a reload the gateway refuses, a second signal."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from test_cli import EXE, _spawn, _stop, _wait_for_line, free_port


def test_reload_to_a_refusing_gateway_goes_back_to_the_working_config(tmp_path):
    """A values edit pointing the node at a gateway that refuses its token does not kill it:
    the node logs why, goes back to the config that registered, and keeps answering."""
    good, bad = free_port(), free_port()
    gateways = [_spawn("serve", "--port", str(port), env={"NODETOOL_GATEWAY_TOKEN": token})
                for port, token in ((good, "tok-good"), (bad, "tok-other"))]
    config = tmp_path / "node.yaml"
    config.write_text("gateway:\n"
                      "  url: \"{{ values.gateway_url }}\"\n"
                      "  auth: {token: \"{{ secret('NODE_TOKEN') }}\"}\n"
                      f"storage: {{path: '{tmp_path / 'storage'}'}}\nworkflows: {{paths: []}}\n")
    values = tmp_path / "environments" / "prod.yaml"
    values.parent.mkdir()
    values.write_text(f"gateway_url: ws://127.0.0.1:{good}\n")
    env = {"NODE_TOKEN": "tok-good"}
    node = _spawn("run", str(config), "--env", "prod", env=env)
    try:
        for gw in gateways:
            _wait_for_line(gw, "listening")
        _wait_for_line(node, "registered with")
        values.write_text(f"gateway_url: ws://127.0.0.1:{bad}  # the wrong gateway\n")
        lines = _wait_for_line(node, "going back to the config that last registered")
        assert "HTTP 401" in lines[-1] and f"127.0.0.1:{good}" in lines[-1]
        _wait_for_line(node, f"registered with ws://127.0.0.1:{good}")
        assert node.poll() is None
        answer = subprocess.run([*EXE, "call", "get_job", "--args", '{"job_id": "none"}',
                                 "--gateway", f"ws://127.0.0.1:{good}", "-q"],
                                capture_output=True, text=True, timeout=60,
                                env={**os.environ, "NODETOOL_GATEWAY_TOKEN": "tok-good"})
        assert "NOT_FOUND" in answer.stderr, answer.stderr  # the node answers through `good`
    finally:
        rc, err = _stop(node)
        for gw in gateways:
            _stop(gw)
    assert rc == 0, err[-3000:]
    assert "tok-good" not in err


def test_second_signal_cancels_the_running_call_and_says_so(tmp_path):
    """A second SIGTERM during the drain cancels the running call, which answers CANCELLED,
    logs why and exits 143 (it exited 0 silently, abandoning the call)."""
    port = free_port()
    gw = _spawn("serve", "--port", str(port), "--insecure-no-auth")
    started = tmp_path / "started"
    (tmp_path / "hold_handlers.py").write_text(
        "import asyncio, pathlib\n"
        "async def hold():\n"
        f"    pathlib.Path({str(started)!r}).touch()\n"
        "    await asyncio.sleep(3600)\n")
    config = tmp_path / "node.yaml"
    config.write_text(f"gateway: {{url: 'ws://127.0.0.1:{port}'}}\n"
                      f"storage: {{path: '{tmp_path / 'storage'}'}}\nworkflows: {{paths: []}}\n"
                      "shutdown: {grace: 60s}\ncommands: {hold: 'hold_handlers:hold'}\n")
    node = _spawn("run", str(config), "--no-reload")
    _wait_for_line(gw, "listening")
    _wait_for_line(node, "registered with")
    call = subprocess.Popen([*EXE, "call", "hold", "--gateway", f"ws://127.0.0.1:{port}", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not started.exists():  # the handler is running
        assert time.monotonic() < deadline and call.poll() is None, "the call never started"
        time.sleep(0.02)
    try:
        node.send_signal(signal.SIGTERM)
        _wait_for_line(node, "shutting down: 1 calls running")
        node.send_signal(signal.SIGTERM)
        lines = _wait_for_line(node, "second SIGTERM")
        assert "cancelling 1 running calls" in lines[-1]
        _, call_err = call.communicate(timeout=60)
        assert call.returncode != 0 and "CANCELLED" in call_err, call_err
        rc, err = _stop(node)
    finally:
        if call is not None and call.poll() is None:
            call.kill()
        _stop(node)
        _stop(gw)
    assert rc == 143, err[-3000:]
    assert "stopped by a second SIGTERM: 1 running calls were cancelled" in err


def test_connect_without_a_url_names_gateway_url():
    """`connect` with neither --url nor GATEWAY_URL says both (it said only "Missing option")."""
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_URL"}
    result = subprocess.run([*EXE, "connect"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "--url" in result.stderr and "GATEWAY_URL" in result.stderr


def test_connect_refused_points_at_its_own_token_options(tmp_path):
    """A 401 after `connect` names --auth-token and GATEWAY_AUTH_TOKEN, not a config it has not."""
    port = free_port()
    gw = _spawn("serve", "--port", str(port), env={"NODETOOL_GATEWAY_TOKEN": "right"})
    try:
        _wait_for_line(gw, "listening")
        node = subprocess.run([*EXE, "connect", "--url", f"ws://127.0.0.1:{port}", "--auth-token",
                               "wrong"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    finally:
        _stop(gw)
    assert node.returncode == 77
    last = node.stderr.strip().splitlines()[-1]
    assert "HTTP 401" in last and "--auth-token or GATEWAY_AUTH_TOKEN" in last, last
    assert "config" not in last


def test_no_module_is_shipped_in_nodetools_namespace():
    """The seed's `nodetool.gateway` is NodeTool's own module name (nodetool-core's
    development line has a `nodetool/gateway/` with its own GatewayClient), so nothing is
    shipped under `nodetool/`; `nodetool_gateway` exports the seed's GatewayClient."""
    from pathlib import Path

    import nodetool_gateway

    src = Path(nodetool_gateway.__file__).resolve().parents[1]
    assert sorted(p.name for p in src.iterdir() if p.is_dir() and not p.name.endswith(
        (".egg-info", "__pycache__"))) == ["nodetool_gateway"]
    client = nodetool_gateway.GatewayClient(gateway_url="ws://127.0.0.1:9", node_id="seed",
                                            auth_token="t", user_id="1", heartbeat_interval=30)
    assert client.node_id == "seed"
