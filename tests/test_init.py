"""`nodetool-gateway init`: a new node's folder that validates and runs as it is."""

from __future__ import annotations

import os
import subprocess
from importlib import resources

from node_processes import EXE, call, local_gateway, spawn, stop, wait_for_line

FILES = ["node.yaml", "environments/dev.yaml", "environments/prod.yaml", "handlers.py",
         "workflows/temperature-table.json"]


def cli(*args: str, cwd=None, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("GATEWAY_", "NODETOOL_GATEWAY_"))}
    return subprocess.run([*EXE, *args], capture_output=True, text=True, check=False,
                          timeout=120, cwd=cwd, env={**environ, **(env or {})})


def test_init_writes_a_node_that_validates_in_each_environment(tmp_path):
    """init writes the five files; dev validates, prod validates once the token is set."""
    done = cli("init", str(tmp_path / "mynode"))
    assert done.returncode == 0, done.stderr
    root = tmp_path / "mynode"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted(FILES)
    assert f"nodetool-gateway validate {root / 'node.yaml'} --env dev" in done.stdout
    bundled = resources.files("nodetool_gateway") / "bundled_workflows" / "Temperature Table.json"
    assert (root / "workflows/temperature-table.json").read_bytes() == bundled.read_bytes()

    config = str(root / "node.yaml")
    dev = cli("validate", config, "--env", "dev")
    assert dev.returncode == 0, dev.stderr
    prod = cli("validate", config, "--env", "prod")
    assert prod.returncode == 78
    assert "GATEWAY_AUTH_TOKEN" in prod.stderr
    prod = cli("validate", config, "--env", "prod", env={"GATEWAY_AUTH_TOKEN": "tok-123"})
    assert prod.returncode == 0, prod.stderr
    shown = cli("render", config, "--env", "prod", env={"GATEWAY_AUTH_TOKEN": "tok-123"})
    assert shown.returncode == 0, shown.stderr
    assert "wss://gateway.example.com/ws" in shown.stdout
    assert "tok-123" not in shown.stdout
    routes = cli("routes", config, "--env", "dev")
    assert "handlers:hello" in routes.stdout


def test_init_defaults_to_the_current_folder(tmp_path):
    """Without DIR, init writes into the current folder."""
    done = cli("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert all((tmp_path / name).is_file() for name in FILES)


def test_init_refuses_to_overwrite_unless_forced(tmp_path):
    """A second init lists the files that exist, exits 1 and changes nothing; --force
    writes them again."""
    assert cli("init", str(tmp_path)).returncode == 0
    (tmp_path / "handlers.py").write_text("# mine\n")
    again = cli("init", str(tmp_path))
    assert again.returncode == 1
    assert "--force" in again.stderr
    for name in FILES:
        assert str(tmp_path / name) in again.stderr
    assert (tmp_path / "handlers.py").read_text() == "# mine\n"
    forced = cli("init", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "async def hello" in (tmp_path / "handlers.py").read_text()


def test_a_scaffolded_node_answers_its_handler_and_runs_its_workflow(tmp_path):
    """The scaffolded node joins a local gateway, answers `hello` and runs the workflow
    from its workflows/ folder."""
    assert cli("init", str(tmp_path / "n")).returncode == 0
    with local_gateway() as url:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GATEWAY_", "NODETOOL_GATEWAY_"))}
        env.update(GATEWAY_NODE_ID="scaffolded", NODETOOL_GATEWAY_STORAGE=str(tmp_path / "data"))
        node = spawn([*EXE, "run", str(tmp_path / "n/node.yaml"), "--env", "dev", "--set",
                      f"gateway_url={url}", "--set", "log_level=INFO"], env=env)
        try:
            wait_for_line(node, "registered with")
            assert call(url, "hello", {"name": "Ada"}) == {"greeting": "Hello, Ada!",
                                                            "node": "scaffolded"}
            run = call(url, "run_workflow", {"workflow_id": "temperature-table",
                                             "params": {"celsius": 100}})
            assert run["status"] == "completed"
            assert run["outputs"]["fahrenheit"] == [212.0]
        finally:
            rc, err = stop(node)
    assert rc == 0, err
    assert (tmp_path / "data").is_dir()
