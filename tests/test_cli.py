"""The command line, run as a user runs it: real processes, real files, real sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from node_processes import free_port, spawn, stop, wait_for_line

from nodetool_gateway import __version__
from nodetool_gateway.cli import cli

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "nodetool_gateway"]


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_version():
    """--version prints the version."""
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


def test_help_shows_defaults():
    """Each command's --help shows its options with their defaults."""
    result = invoke("serve", "--help")
    assert result.exit_code == 0
    assert "[default: 127.0.0.1]" in result.output and "[default: 8080]" in result.output
    result = invoke("call", "--help")
    assert "[default: ws://127.0.0.1:8080]" in result.output
    top = invoke("--help").output
    for command in ("run", "connect", "validate", "render", "schema", "routes", "serve", "call", "demo"):
        assert command in top


def test_validate_ok():
    """validate accepts the shipped config template and examples."""
    for path in ("configs/node.yaml", "examples/node.yaml"):
        result = invoke("validate", str(ROOT / path))
        assert result.exit_code == 0, result.output
        assert "ok" in result.output


def test_validate_points_at_the_line(tmp_path):
    """validate prints FILE:LINE:COL: key.path: message for each problem, exit 78."""
    path = tmp_path / "node.yaml"
    path.write_text("gateway:\n  url: ws://127.0.0.1:9\n  retries: 3\nheartbeat:\n  interval: soon\n"
                    "commands:\n  greet: nowhere_module:fn\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 78
    lines = result.output.splitlines()
    assert f"{path}:3:3: gateway.retries: Extra inputs are not permitted" in lines
    assert any(line.startswith(f"{path}:5:3: heartbeat.interval:") for line in lines)
    assert "Traceback" not in result.output


def test_validate_reports_unimportable_handler(tmp_path):
    """An unimportable handler is named with its line."""
    path = tmp_path / "node.yaml"
    path.write_text("commands:\n  greet: nowhere_module:fn\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 78
    assert f"{path}:2:3: commands.greet" in result.output
    assert "nowhere_module" in result.output


def test_schema_is_json_schema():
    """schema prints a JSON Schema that names every section."""
    result = invoke("schema")
    schema = json.loads(result.output)
    for section in ("gateway", "node", "heartbeat", "retry", "limits", "shutdown", "routes",
                    "commands", "logging"):
        assert section in schema["properties"]


def test_routes_table():
    """routes shows each command and message type with its handler and where it came from."""
    result = invoke("routes", str(ROOT / "examples/node.yaml"))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "greet" in out and "handlers:greet" in out
    assert "run_workflow" in out and "default" in out
    assert "list_collections" in out and "(disabled)" in out
    assert "note" in out and "handlers:on_note" in out


def test_render_with_env_and_set(tmp_path):
    """render applies environments/NAME.yaml then --set."""
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "dev.yaml").write_text("node_name: dev-box\nlevel: DEBUG\n")
    path = tmp_path / "node.yaml"
    path.write_text("node: {id: \"{{ values.node_name }}\"}\nlogging: {level: \"{{ values.level }}\"}\n")
    result = invoke("render", str(path), "--env", "dev", "--set", "level=WARNING")
    assert result.exit_code == 0, result.output
    assert "id: dev-box" in result.output and "level: WARNING" in result.output


def test_connect_refuses_remote_ws():
    """connect refuses a plain ws:// URL to a remote host with a one-line error."""
    result = CliRunner().invoke(cli, ["connect", "--url", "ws://gateway.example.com:8080"])
    assert result.exit_code == 78
    assert "allow_insecure" in result.output and "Traceback" not in result.output


def _spawn(*args: str, env: dict | None = None) -> subprocess.Popen:
    return spawn([*EXE, *args], env={**os.environ, **(env or {})}, cwd=ROOT)


_wait_for_line, _stop = wait_for_line, stop


def test_serve_run_call_end_to_end(tmp_path):
    """serve, run and call as separate processes: a custom command answers, SIGTERM exits 0."""
    port = free_port()
    token = "e2e-token"
    gw = _spawn("serve", "--port", str(port), env={"NODETOOL_GATEWAY_TOKEN": token})
    node = None
    try:
        _wait_for_line(gw, "listening")
        node = _spawn("run", str(ROOT / "examples/node.yaml"), env={
            "GATEWAY_URL": f"ws://127.0.0.1:{port}", "GATEWAY_AUTH_TOKEN": token,
            "GATEWAY_NODE_ID": "e2e-node"})
        _wait_for_line(node, "registered with")
        env = {**os.environ, "NODETOOL_GATEWAY_TOKEN": token}
        gateway = f"ws://127.0.0.1:{port}"
        ok = subprocess.run([*EXE, "call", "greet", "--args", '{"name": "Ada"}', "--gateway", gateway],
                            capture_output=True, text=True, env=env, timeout=30)
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout) == "Hello, Ada."
        streamed = subprocess.run([*EXE, "call", "slow_sum", "--args", '{"numbers": [1, 2, 3]}',
                                   "--gateway", gateway], capture_output=True, text=True, env=env,
                                  timeout=30)
        assert streamed.returncode == 0, streamed.stderr
        assert json.loads(streamed.stdout) == 6
        assert "progress 3/3" in streamed.stderr
        bad = subprocess.run([*EXE, "call", "greet", "--args", '{"nom": "Ada"}', "--gateway", gateway],
                             capture_output=True, text=True, env=env, timeout=30)
        assert bad.returncode == 1 and "INVALID_ARGS" in bad.stderr
        refused = subprocess.run([*EXE, "call", "greet", "--gateway", gateway], capture_output=True,
                                 text=True, env={**os.environ, "NODETOOL_GATEWAY_TOKEN": "wrong"},
                                 timeout=30)
        assert refused.returncode == 77 and "refused" in refused.stderr
        code, err = _stop(node)
        assert code == 0, err
        assert "stopped" in err
        assert token not in err
    finally:
        if node is not None:
            _stop(node)
        _stop(gw)


def test_run_exits_nonzero_on_refused_token(tmp_path):
    """run stops with exit 77 and a clear message when the gateway refuses the token."""
    port = free_port()
    gw = _spawn("serve", "--port", str(port), env={"NODETOOL_GATEWAY_TOKEN": "right"})
    try:
        _wait_for_line(gw, "listening")
        node = subprocess.run([*EXE, "run", str(ROOT / "examples/node.yaml"), "--no-reload"],
                              capture_output=True, text=True, timeout=30, cwd=ROOT,
                              env={**os.environ, "GATEWAY_URL": f"ws://127.0.0.1:{port}",
                                   "GATEWAY_AUTH_TOKEN": "wrong"})
    finally:
        _stop(gw)
    assert node.returncode == 77
    assert "refused the node's credentials (HTTP 401)" in node.stderr
    assert "Traceback" not in node.stderr and "wrong" not in node.stderr


def test_tokens_from_files(tmp_path):
    """serve and call read the token from --auth-token-file (kept out of `ps`); not both."""
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    port = free_port()
    gw = _spawn("serve", "--port", str(port), "--auth-token-file", str(token_file))
    try:
        _wait_for_line(gw, "listening")
        url = f"ws://127.0.0.1:{port}"

        def call(*extra: str) -> subprocess.CompletedProcess:
            return subprocess.run([*EXE, "call", "echo", "--gateway", url, *extra],
                                  capture_output=True, text=True, timeout=30)

        admitted = call("--auth-token-file", str(token_file))
        assert admitted.returncode == 1 and "NO_NODE" in admitted.stderr  # in, but no node
        assert call("--auth-token", "wrong").returncode == 77
        both = call("--auth-token", "x", "--auth-token-file", str(token_file))
        assert both.returncode == 2 and "not both" in both.stderr
    finally:
        _stop(gw)
    assert "file-token" not in " ".join(gw.args)


def test_call_without_gateway_fails_cleanly():
    """call with no gateway running says so, exit 69, no traceback."""
    result = subprocess.run([*EXE, "call", "echo", "--gateway", f"ws://127.0.0.1:{free_port()}"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 69
    assert "cannot reach the gateway" in result.stderr and "Traceback" not in result.stderr


def test_demo_runs():
    """demo starts a gateway and a node, runs a bundled workflow live, shows the answers, exits 0."""
    result = subprocess.run([*EXE, "demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Word Stats" in out and "Conditional Logic Engine" in out
    assert "… job running" in out and "… job completed" in out
    assert "… node measure Measure Length: completed" in out
    assert '"lengths": [[1, 4, 4, 3, 9, 3, 7, 5, 2]]' in out
    assert "Route Decision: EXTREME_VALUE" in out
    assert "error [INVALID_ARGS]" in out and "unknown param 'txt'" in out
    assert "every call answered as expected" in out


def test_assets_add_and_list(tmp_path):
    """assets add copies files into the store; assets list shows them; a bad name is refused."""
    storage = tmp_path / "storage"
    src = tmp_path / "photo.png"
    src.write_bytes(b"\x89PNG fake")
    added = invoke("assets", "add", str(src), "--storage", str(storage))
    assert added.exit_code == 0, added.output
    asset = json.loads(added.output.splitlines()[0])
    assert asset["name"] == "photo.png" and asset["content_type"] == "image/png" and asset["size"] == 9
    listed = CliRunner().invoke(cli, ["assets", "list", "--storage", str(storage)])
    assert asset["id"] in listed.output and "photo.png" in listed.output
    bad = CliRunner().invoke(cli, ["assets", "add", str(src), "--name", "../escape.png",
                                   "--storage", str(storage)])
    assert bad.exit_code == 1 and "error:" in bad.output
    assert not (tmp_path / "escape.png").exists()


def test_assets_use_the_config_storage(tmp_path):
    """assets --config puts files where a node with that config looks."""
    cfg = tmp_path / "node.yaml"
    cfg.write_text("storage: {path: ./data}\n")
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    result = invoke("assets", "add", str(src), "--config", str(cfg))
    assert result.exit_code == 0, result.output
    assert any((tmp_path / "data" / "assets").iterdir())


def test_assets_mkdir_makes_a_folder_to_add_into(tmp_path):
    """assets mkdir prints a folder's id; add --parent and list --parent use it."""
    storage = str(tmp_path / "storage")
    made = invoke("assets", "mkdir", "docs", "--storage", storage)
    assert made.exit_code == 0, made.output
    folder_id = made.output.strip()
    inner = invoke("assets", "mkdir", "2025", "--parent", folder_id, "--storage", storage)
    assert inner.exit_code == 0, inner.output
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    added = invoke("assets", "add", str(src), "--parent", folder_id, "--storage", storage)
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["parent_id"] == folder_id
    listed = CliRunner().invoke(cli, ["assets", "list", "--parent", folder_id, "--storage", storage])
    assert "notes.txt" in listed.output and "2025" in listed.output and "folder" in listed.output
    orphan = CliRunner().invoke(cli, ["assets", "mkdir", "x", "--parent", "nope", "--storage", storage])
    assert orphan.exit_code == 1 and "no folder asset 'nope'" in orphan.output


def test_call_run_workflow_shows_progress(tmp_path):
    """call run_workflow prints live progress on stderr and the outputs on stdout."""
    port = free_port()
    gw = _spawn("serve", "--port", str(port), "--insecure-no-auth")
    node = None
    try:
        _wait_for_line(gw, "listening")
        cfg = tmp_path / "node.yaml"
        cfg.write_text(f"gateway: {{url: 'ws://127.0.0.1:{port}'}}\nstorage: {{path: ./s}}\n"
                       "workflows: {paths: []}\n")
        node = _spawn("run", str(cfg), "--no-reload")
        _wait_for_line(node, "registered with")
        done = subprocess.run([*EXE, "call", "run_workflow", "--gateway", f"ws://127.0.0.1:{port}",
                               "--args", '{"workflow_id": "temperature-table", "params": {"celsius": 100}}'],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["outputs"]["summary"] == ["100 °C = 212.0 °F = 373.15 K"]
        assert "… job running" in done.stderr and "… job completed" in done.stderr
        assert "… output fahrenheit = 212.0" in done.stderr
    finally:
        if node is not None:
            _stop(node)
        _stop(gw)


def test_serve_requires_a_token():
    """serve without a token or --insecure-no-auth is a usage error that says what to do."""
    result = CliRunner().invoke(cli, ["serve"], env={"NODETOOL_GATEWAY_TOKEN": None})
    assert result.exit_code == 2
    assert "--auth-token-file FILE" in result.output and "--insecure-no-auth" in result.output


def test_serve_limits_default_to_the_gateways():
    """serve's --max-connections and --rate-limit defaults are the gateway's own."""
    from nodetool_gateway.gateway.server import DEFAULT_MAX_CONNECTIONS, DEFAULT_RATE_LIMIT

    defaults = {p.name: p.default for p in cli.commands["serve"].params}
    assert defaults["max_connections"] == DEFAULT_MAX_CONNECTIONS
    assert defaults["rate_limit"] == DEFAULT_RATE_LIMIT


def test_insecure_no_auth_only_on_loopback():
    """--insecure-no-auth is refused on a non-loopback host, and beside a token."""
    for host in ("0.0.0.0", "192.168.1.5", "::", "gateway.example.com"):
        result = CliRunner().invoke(cli, ["serve", "--insecure-no-auth", "--host", host],
                                    env={"NODETOOL_GATEWAY_TOKEN": None})
        assert result.exit_code == 2, host
        assert "only on a loopback --host" in result.output and "--auth-token-file" in result.output
    both = CliRunner().invoke(cli, ["serve", "--insecure-no-auth", "--auth-token", "t"])
    assert both.exit_code == 2 and "not both" in both.output


def test_serve_insecure_refuses_browsers_and_extra_connections():
    """serve --insecure-no-auth on loopback: 403 for a foreign Origin, 503 past --max-connections."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    port = free_port()
    gw = _spawn("serve", "--port", str(port), "--insecure-no-auth",
                "--allow-origin", "http://localhost:3000", "--max-connections", "1",
                env={"NODETOOL_GATEWAY_TOKEN": ""})
    url = f"ws://127.0.0.1:{port}/operator"

    def status(**headers: str) -> int | None:
        try:
            with connect(url, additional_headers=headers, open_timeout=10):
                return None
        except InvalidStatus as exc:
            return exc.response.status_code

    try:
        lines = _wait_for_line(gw, "listening")
        assert status(Origin="https://evil.example") == 403
        assert status(Origin="http://localhost:3000") is None
        with connect(url, open_timeout=10):
            assert status() == 503
        lines += _wait_for_line(gw, "refusing connections")
    finally:
        _stop(gw)
    assert any("no token" in line for line in lines)
    assert any("origin 'https://evil.example' is not allowed" in line for line in lines)


def test_render_and_routes_import_no_user_code(tmp_path, monkeypatch):
    """render and routes show handlers as written; only validate imports them."""
    import uuid

    monkeypatch.setattr(sys, "path", list(sys.path))
    mod = f"clitest_{uuid.uuid4().hex[:12]}"
    marker = tmp_path / "imported"
    (tmp_path / f"{mod}.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n"
        "def greet(name='you'):\n    return name\n")
    path = tmp_path / "node.yaml"
    path.write_text(f"commands:\n  greet: {mod}:greet\n")
    try:
        routes = invoke("routes", str(path))
        assert routes.exit_code == 0, routes.output
        assert f"{mod}:greet" in routes.output
        rendered = invoke("render", str(path))
        assert rendered.exit_code == 0, rendered.output
        assert f"handler: {mod}:greet" in rendered.output
        assert not marker.exists() and mod not in sys.modules
        validated = invoke("validate", str(path))
        assert validated.exit_code == 0, validated.output
        assert marker.exists()
    finally:
        sys.modules.pop(mod, None)
    # A module that raises on import: render and routes still work, validate says why.
    broken = f"{mod}_broken"
    (tmp_path / f"{broken}.py").write_text("raise RuntimeError('side effect at import')\n")
    path.write_text(f"commands:\n  greet: {broken}:greet\n")
    assert invoke("routes", str(path)).exit_code == 0
    assert invoke("render", str(path)).exit_code == 0
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 78 and "side effect at import" in result.output
    sys.modules.pop(broken, None)


def test_run_that_gives_up_exits_unavailable(tmp_path):
    """run stops with exit 69 (EX_UNAVAILABLE, as the README says) once retry.max_attempts
    connection attempts have failed."""
    port = free_port()  # nothing listens there
    config = tmp_path / "node.yaml"
    config.write_text(f"gateway: {{url: 'ws://127.0.0.1:{port}'}}\n"
                      "retry: {max_attempts: 2, initial_delay: 0.05, jitter: 0}\n"
                      f"storage: {{path: '{tmp_path / 'storage'}'}}\n")
    node = subprocess.run([*EXE, "run", str(config), "--no-reload"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert node.returncode == 69, node.stderr[-2000:]
    assert "gave up on gateway" in node.stderr and "Traceback" not in node.stderr


def test_run_with_an_unknown_environment_exits_config(tmp_path):
    """--env with no environments/NAME.yaml is a config error (78) naming what exists."""
    (tmp_path / "environments").mkdir()
    (tmp_path / "environments" / "prod.yaml").write_text("a: 1\n")
    config = tmp_path / "node.yaml"
    config.write_text("gateway: {url: 'ws://127.0.0.1:9'}\n")
    node = subprocess.run([*EXE, "validate", str(config), "--env", "prdo"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert node.returncode == 78
    assert "--env prdo" in node.stderr and "prod" in node.stderr


def test_sighup_reloads_the_config_and_keeps_the_node(tmp_path):
    """SIGHUP (systemd's ExecReload) reloads the config, with --no-reload too, and the
    node keeps its connection; it used to kill the node (rc 129)."""
    port = free_port()
    gw = _spawn("serve", "--port", str(port), "--insecure-no-auth")
    config = tmp_path / "node.yaml"
    body = (f"gateway: {{url: 'ws://127.0.0.1:{port}'}}\n"
            f"storage: {{path: '{tmp_path / 'storage'}'}}\nworkflows: {{paths: []}}\n")
    config.write_text(body + "commands: {list_models: null}\n")
    node = subprocess.Popen([*EXE, "run", str(config), "--no-reload"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        _wait_for_line(gw, "listening")
        _wait_for_line(node, "registered with")
        config.write_text(body)  # list_models is back
        node.send_signal(signal.SIGHUP)
        _wait_for_line(node, "reloaded")
        assert node.poll() is None
        node.send_signal(signal.SIGHUP)  # nothing changed: still running
        time.sleep(0.5)
        assert node.poll() is None
    finally:
        rc, err = _stop(node)
        _stop(gw)
    assert rc == 0, err
    assert "Traceback" not in err


def test_the_last_line_is_logged_as_configured_and_masks_secrets(tmp_path):
    """With logging.format: json the fatal line is JSON like the rest, and a secret()
    placed in the URL's path is masked in it (it was printed in clear)."""
    port = free_port()  # nothing listens there
    config = tmp_path / "node.yaml"
    config.write_text("gateway: {url: \"ws://127.0.0.1:" + str(port) + "/{{ secret('PATH_KEY') }}\"}\n"
                      "retry: {max_attempts: 1, initial_delay: 0.05, jitter: 0}\n"
                      "logging: {format: json}\n"
                      f"storage: {{path: '{tmp_path / 'storage'}'}}\n")
    node = subprocess.run([*EXE, "run", str(config), "--no-reload"], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path,
                          env={**os.environ, "PATH_KEY": "s3cr3t-in-path"})
    assert node.returncode == 69, node.stderr[-2000:]
    lines = [json.loads(line) for line in node.stderr.splitlines() if line.strip()]
    assert lines[-1]["level"] == "CRITICAL" and "gave up on gateway" in lines[-1]["message"]
    assert "s3cr3t-in-path" not in node.stderr
