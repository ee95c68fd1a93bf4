"""`nodetool-gateway service`: the systemd user unit it writes, and that unit's commands
run for real against a local gateway.

Every test points HOME and XDG_CONFIG_HOME into tmp_path and gives the CLI a PATH
without the machine's systemctl, so the real user manager is never touched.
"""

from __future__ import annotations

import configparser
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TIME
from node_processes import EXE, ROOT, call, local_gateway, spawn, stop, wait_for_line

from nodetool_gateway.service import (
    UnitSpec,
    parse_env_file,
    systemd_quote,
    unit_text,
    watchdog_seconds,
)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An environment whose home, config folder and PATH are the test's own."""
    (tmp_path / "home").mkdir()
    (tmp_path / "bin").mkdir()
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home/cfg"),
            "PATH": str(tmp_path / "bin"), "LANG": "C.UTF-8"}


def cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, env=env, check=False,
                          timeout=120, cwd=cwd or ROOT)


def scaffold(folder: Path) -> Path:
    done = subprocess.run([*EXE, "init", str(folder)], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return folder / "node.yaml"


def read_unit(path: Path) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"))
    return {section: dict(parser[section]) for section in parser.sections()}


def split_exec(value: str) -> list[str]:
    """An ExecStart= line as systemd reads it: specifiers, then words, then variables."""
    assert re.fullmatch(r"(?:[^%]|%%)*", value), f"a specifier we did not mean: {value}"
    value = value.replace("%%", "%")
    words: list[str] = []
    word: list[str] = []
    quote: str | None = None
    started = False
    i = 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            word.append(value[i + 1])
            started = True
            i += 2
            continue
        if quote is not None:
            if c == quote:
                quote = None
            else:
                word.append(c)
        elif c in "\"'":
            quote = c
            started = True
        elif c.isspace():
            if started:
                words.append("".join(word))
                word, started = [], False
        else:
            word.append(c)
            started = True
        i += 1
    assert quote is None, f"unbalanced quotes: {value}"
    if started:
        words.append("".join(word))
    for w in words:
        assert re.fullmatch(r"(?:[^$]|\$\$)*", w), f"a variable we did not mean: {w}"
    return [w.replace("$$", "$") for w in words]


def path_setting(value: str) -> str:
    """A path setting (WorkingDirectory=, EnvironmentFile=) as systemd reads it."""
    assert re.fullmatch(r"(?:[^%]|%%)*", value), f"a specifier we did not mean: {value}"
    return value.replace("%%", "%")


def test_quoting_round_trips_through_systemds_rules():
    """Each argument comes back from systemd's splitting as it went in."""
    args = ["/opt/my env/bin/nodetool-gateway", "run", "/srv/100% $HOME/it's \"here\"\\x",
            "--set", "a.b=two words", "", ";", "naïve", "${X}", "%h"]
    assert split_exec(" ".join(systemd_quote(a) for a in args)) == args


def test_quoting_refuses_control_characters():
    """A newline in an argument is refused instead of breaking the unit."""
    with pytest.raises(ValueError, match="control character"):
        systemd_quote("a\nExecStartPre=/bin/evil")


def test_watchdog_is_three_heartbeats_but_at_least_30s():
    """WatchdogSec is three heartbeat intervals, never under 30 s."""
    assert watchdog_seconds(5) == 30
    assert watchdog_seconds(30) == 90
    assert watchdog_seconds(100.5) == 302


def test_install_writes_a_unit_with_every_setting(tmp_path, home):
    """install writes the unit: notify, reload by SIGHUP, watchdog, restart policy, env file."""
    config = scaffold(tmp_path / "node")
    env_file = tmp_path / "home/cfg/nodetool-gateway/edge.env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text("GATEWAY_AUTH_TOKEN=t0ken\n")
    env_file.chmod(0o600)
    done = cli(home, "service", "install", str(config), "--env", "prod", "--name", "edge",
               "--set", "heartbeat_interval=45s")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "home/cfg/systemd/user/nodetool-gateway-edge.service"
    assert f"wrote {path}" in done.stdout
    unit = read_unit(path)
    svc = unit["Service"]
    exe = Path(sys.executable).absolute().parent / "nodetool-gateway"
    assert split_exec(svc["ExecStart"]) == [
        str(exe), "run", str(config), "--env", "prod", "--set", "heartbeat_interval=45s"]
    assert svc["Type"] == "notify"
    assert svc["NotifyAccess"] == "main"
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert svc["WatchdogSec"] == "135"  # 3 x 45 s
    assert svc["TimeoutStopSec"] == "60"  # shutdown.grace 30 s + 30 s
    assert svc["Restart"] == "on-failure"
    assert int(svc["RestartSec"]) > 0
    assert svc["RestartPreventExitStatus"].split() == ["77", "78"]
    assert path_setting(svc["WorkingDirectory"]) == str(config.parent)
    assert path_setting(svc["EnvironmentFile"]) == f"-{env_file}"
    assert svc["KillMode"] == "mixed"
    assert unit["Install"]["WantedBy"] == "default.target"
    assert "journalctl --user -u nodetool-gateway-edge.service" in done.stdout
    assert "loginctl enable-linger" in done.stdout
    assert "systemctl not found" in done.stdout


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path, home):
    """systemd-analyze verify finds nothing wrong in the unit, odd paths included."""
    folder = tmp_path / "my node's 100% $dir"
    config = scaffold(folder)
    done = cli(home, "service", "install", str(config), "--env", "dev", "--no-start")
    assert done.returncode == 0, done.stderr
    path = tmp_path / "home/cfg/systemd/user/nodetool-gateway.service"
    check = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                           text=True, check=False, timeout=60)
    assert check.returncode == 0 and check.stderr == "", check.stderr


def test_unit_text_is_independent_of_the_environment():
    """The unit is a pure function of its spec."""
    spec = UnitSpec(argv=["/x/nodetool-gateway", "run", "/c/node.yaml"],
                    working_directory=Path("/c"), env_file=Path("/h/.config/n.env"),
                    heartbeat_interval=30, shutdown_grace=10)
    assert unit_text(spec) == unit_text(spec)
    assert "TimeoutStopSec=40\n" in unit_text(spec)


def test_print_writes_nothing(tmp_path, home):
    """--print shows the unit on stdout and leaves the disk alone."""
    config = scaffold(tmp_path / "node")
    done = cli(home, "service", "install", str(config), "--env", "dev", "--print")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# Written by `nodetool-gateway service install`")
    assert "Type=notify\n" in done.stdout
    assert not (tmp_path / "home/cfg").exists()


def test_an_invalid_config_is_not_installed(tmp_path, home):
    """A config that does not validate exits 78 with the problem, and writes no unit."""
    config = tmp_path / "node.yaml"
    config.write_text("gateway: {url: 'ws://127.0.0.1:1'}\nheartbeat: {intervall: 5s}\n")
    done = cli(home, "service", "install", str(config))
    assert done.returncode == 78
    assert "heartbeat.intervall" in done.stderr
    assert not (tmp_path / "home/cfg/systemd").exists()


def test_install_validates_with_the_services_environment(tmp_path, home):
    """A token only this shell has is not enough: the service reads it from the env file."""
    config = scaffold(tmp_path / "node")
    done = cli({**home, "GATEWAY_AUTH_TOKEN": "shell-only"}, "service", "install", str(config),
               "--env", "prod")
    assert done.returncode == 78
    env_file = tmp_path / "home/cfg/nodetool-gateway/default.env"
    assert "GATEWAY_AUTH_TOKEN" in done.stderr and str(env_file) in done.stderr
    assert not (tmp_path / "home/cfg/systemd").exists()
    # The env file is made for the secret, readable by the user alone.
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(env_file.parent.stat().st_mode) == 0o700
    with env_file.open("a") as f:
        f.write('GATEWAY_AUTH_TOKEN="s3cret-token"\n')
    done = cli(home, "service", "install", str(config), "--env", "prod")
    assert done.returncode == 0, done.stderr
    assert "with a token" in done.stdout
    unit = (tmp_path / "home/cfg/systemd/user/nodetool-gateway.service").read_text()
    assert "s3cret" not in unit and "s3cret" not in done.stdout + done.stderr
    assert env_file.read_text().endswith('"s3cret-token"\n')  # kept as it was


def test_a_bad_name_is_a_usage_error(tmp_path, home):
    """--name that cannot be part of a unit name exits 2."""
    config = scaffold(tmp_path / "node")
    done = cli(home, "service", "install", str(config), "--name", "../x")
    assert done.returncode == 2
    assert "--name" in done.stderr


def test_status_without_systemctl_exits_unavailable(home):
    """status says systemctl is missing and exits 69."""
    done = cli(home, "service", "status")
    assert done.returncode == 69
    assert "systemctl not found" in done.stderr


def test_uninstall_without_a_unit_fails(home):
    """uninstall with nothing installed says so and exits 1."""
    done = cli(home, "service", "uninstall", "--name", "gone")
    assert done.returncode == 1
    assert "nodetool-gateway-gone.service" in done.stderr


def test_install_then_uninstall_without_systemctl(tmp_path, home):
    """Where systemctl is absent, install writes the unit and prints the steps to run where
    systemd is; uninstall removes the unit and keeps the env file (it holds secrets)."""
    config = scaffold(tmp_path / "node")
    done = cli(home, "service", "install", str(config), "--env", "dev")
    assert done.returncode == 0, done.stderr
    unit = "nodetool-gateway.service"
    assert "systemctl not found: nothing enabled" in done.stdout
    assert f"systemctl --user enable {unit}" in done.stdout
    assert (tmp_path / "home/cfg/systemd/user" / unit).exists()
    done = cli(home, "service", "uninstall")
    assert done.returncode == 0, done.stderr
    assert "systemctl not found" in done.stdout
    assert not (tmp_path / "home/cfg/systemd/user" / unit).exists()
    assert (tmp_path / "home/cfg/nodetool-gateway/default.env").exists()


def notifications(sock: socket.socket, until: str) -> list[str]:
    """sd_notify fields received on ``sock`` up to ``until`` (TimeoutError if it never comes)."""
    seen: list[str] = []
    sock.settimeout(20 * TIME)
    while True:
        fields = sock.recv(65536).decode().splitlines()
        seen += fields
        if until in fields:
            return seen


def test_the_units_commands_run_the_node(tmp_path, home):
    """ExecStart, run as systemd would (its folder, its env file, a notify socket), joins a
    real gateway, says READY=1 and answers; ExecReload reloads without stopping it; SIGTERM
    drains (STOPPING=1) and exits 0."""
    folder = tmp_path / "a node's 100% $folder"
    config = scaffold(folder)
    storage = tmp_path / "storage"
    with local_gateway() as url:
        done = cli(home, "service", "install", str(config), "--env", "dev", "--set",
                   f"gateway_url={url}", "--set", "log_level=INFO", "--no-start")
        assert done.returncode == 0, done.stderr
        unit = read_unit(tmp_path / "home/cfg/systemd/user/nodetool-gateway.service")["Service"]
        env_file = Path(path_setting(unit["EnvironmentFile"].removeprefix("-")))
        with env_file.open("a") as f:
            f.write(f"NODETOOL_GATEWAY_STORAGE={storage}\nGATEWAY_NODE_ID=unit-node\n")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(tmp_path / "notify"))
        env = {**home, **parse_env_file(env_file.read_text()),
               "PYTHONUNBUFFERED": "1", "NOTIFY_SOCKET": str(tmp_path / "notify")}
        node = spawn(split_exec(unit["ExecStart"]), env=env,
                     cwd=path_setting(unit["WorkingDirectory"]))
        try:
            wait_for_line(node, "registered with")
            notifications(notify, "READY=1")  # Type=notify: started once registered
            answer = call(url, "hello", {"name": "Ada"})
            assert answer == {"greeting": "Hello, Ada!", "node": "unit-node"}
            reload = split_exec(unit["ExecReload"].replace("$MAINPID", str(node.pid)))
            assert subprocess.run(reload, check=False, timeout=30).returncode == 0
            wait_for_line(node, "SIGHUP: reloading")
            assert call(url, "hello", {"name": "Bo"})["greeting"] == "Hello, Bo!"
            assert node.poll() is None
            node.send_signal(signal.SIGTERM)
            notifications(notify, "STOPPING=1")
            _, err = node.communicate(timeout=30 * TIME)
        finally:
            if node.poll() is None:  # something above failed
                stop(node)
            notify.close()
    assert node.returncode == 0, err
    assert "Traceback" not in err
