"""``nodetool-gateway service``: run a node as a systemd user service.

``install`` validates the config, then writes
``$XDG_CONFIG_HOME/systemd/user/nodetool-gateway[-NAME].service``: ``Type=notify``
(the node says READY=1 once registered and WATCHDOG=1 while it lives),
``ExecReload`` sends SIGHUP (the node reloads its config), and a restart policy
that does not retry what a restart cannot fix (exit 77, 78). Secrets stay in an
``EnvironmentFile`` readable by the user alone, never in the unit.

The unit is built by pure functions (:func:`unit_text` and its helpers); the
click commands only add files and ``systemctl``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from . import __version__

__all__ = [
    "UnitSpec",
    "env_file_path",
    "parse_env_file",
    "service",
    "service_environment",
    "stop_timeout",
    "systemd_quote",
    "unit_name",
    "unit_path",
    "unit_text",
    "watchdog_seconds",
]

# Exit codes, as cli.py's (sysexits.h).
_EXIT_UNAVAILABLE = 69  # no systemctl, or it could not reach the user manager
_EXIT_CONFIG = 78

# A node that has not registered this long after starting is restarted: it was
# retrying anyway, and the journal then says the start timed out.
START_TIMEOUT = 120
RESTART_DELAY = 5
# Beyond shutdown.grace: flushing the outbox, the close handshake, workers exiting.
STOP_MARGIN = 30
WATCHDOG_MIN = 30
# Heartbeats the watchdog tolerates missing before systemd restarts the node.
WATCHDOG_BEATS = 3

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Variables the user manager gives every service (plus environment.d); the
# config is validated with these and the env file, as the service will see it.
_MANAGER_VARIABLES = ("HOME", "USER", "LOGNAME", "SHELL", "PATH", "LANG", "LC_ALL",
                      "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")


def unit_name(name: str | None = None) -> str:
    """``nodetool-gateway.service``, or ``nodetool-gateway-NAME.service``."""
    if name is None:
        return "nodetool-gateway.service"
    if not _NAME.match(name):
        raise ValueError(f"--name {name!r}: use letters, digits, '.', '_' and '-' "
                         "(up to 64, starting with a letter or digit)")
    return f"nodetool-gateway-{name}.service"


def _config_home(environ: Mapping[str, str]) -> Path:
    xdg = environ.get("XDG_CONFIG_HOME", "")
    if os.path.isabs(xdg):  # the spec says to ignore a relative one
        return Path(xdg)
    return Path(environ.get("HOME") or os.path.expanduser("~")) / ".config"


def unit_path(name: str | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """Where systemd's user manager looks for the unit."""
    return _config_home(environ) / "systemd" / "user" / unit_name(name)


def env_file_path(name: str | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The unit's ``EnvironmentFile``: ``$XDG_CONFIG_HOME/nodetool-gateway/NAME.env``."""
    unit_name(name)  # checks the name
    return _config_home(environ) / "nodetool-gateway" / f"{name or 'default'}.env"


def watchdog_seconds(heartbeat_interval: float) -> int:
    """``WatchdogSec=``: three heartbeat intervals, at least 30 s."""
    return max(WATCHDOG_MIN, math.ceil(WATCHDOG_BEATS * heartbeat_interval))


def stop_timeout(grace: float) -> int:
    """``TimeoutStopSec=``: the drain (``shutdown.grace``) and a margin to close cleanly."""
    return math.ceil(grace) + STOP_MARGIN


def systemd_quote(arg: str) -> str:
    """One ``ExecStart=`` argument, as systemd splits and expands it back.

    ``%`` (specifiers) and ``$`` (variables) are doubled; an argument with a blank,
    a quote or a backslash is double-quoted with C escapes.
    """
    if not arg:
        return '""'
    if any(ord(c) < 32 or ord(c) == 127 for c in arg):
        raise ValueError(f"{arg!r}: a control character cannot go into a unit file")
    text = arg.replace("%", "%%").replace("$", "$$")
    if re.search(r"[\s\"'\\;]", text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _path_value(path: Path) -> str:
    """A path setting (``WorkingDirectory=``, ``EnvironmentFile=``): specifiers escaped."""
    text = str(path)
    if any(ord(c) < 32 for c in text) or text != text.strip():
        raise ValueError(f"{text!r}: a unit file cannot hold this path (blank at an end, "
                         "or a control character)")
    return text.replace("%", "%%")


@dataclass(frozen=True)
class UnitSpec:
    """What goes into the unit: the command line and the timings from the config."""

    argv: Sequence[str]
    working_directory: Path
    env_file: Path
    heartbeat_interval: float
    shutdown_grace: float
    description: str = "nodetool-gateway node"


def unit_text(spec: UnitSpec) -> str:
    """The systemd unit file for ``spec``."""
    name = spec.description.replace("%", "%%").replace("\n", " ")
    lines = [
        f"# Written by `nodetool-gateway service install` ({__version__}); run it again",
        "# to change this file. Local additions: `systemctl --user edit UNIT` (a drop-in).",
        "[Unit]",
        f"Description={name}",
        "Documentation=https://github.com/nodetool-ai/nodetool-gateway#running-as-a-service",
        # No network-online.target: the user manager has none, and the node
        # retries with back-off until the gateway answers.
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(systemd_quote(a) for a in spec.argv),
        "ExecReload=/bin/kill -HUP $MAINPID",
        f"WorkingDirectory={_path_value(spec.working_directory)}",
        # '-': the file may be missing. Secrets go there, never into this unit.
        f"EnvironmentFile=-{_path_value(spec.env_file)}",
        "Environment=PYTHONUNBUFFERED=1",
        f"WatchdogSec={watchdog_seconds(spec.heartbeat_interval)}",
        f"TimeoutStartSec={START_TIMEOUT}",
        f"TimeoutStopSec={stop_timeout(spec.shutdown_grace)}",
        # SIGTERM to the node alone: it drains, and its workers end with it.
        "KillMode=mixed",
        "Restart=on-failure",
        f"RestartSec={RESTART_DELAY}",
        # 77: the gateway refused the credentials; 78: the config is invalid.
        "RestartPreventExitStatus=77 78",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines as systemd's ``EnvironmentFile=`` reads them (the common subset)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            inner = value[1:-1]
            value = re.sub(r"\\(.)", r"\1", inner) if value[0] == '"' else inner
        values[key.strip()] = value
    return values


def service_environment(env_file: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment the service will run with: the user manager's variables, then
    the env file. The config is validated with it, so what installs is what runs."""
    base = {k: environ[k] for k in _MANAGER_VARIABLES if k in environ}
    try:
        base.update(parse_env_file(env_file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        pass
    return base


def _executable() -> list[str]:
    """This install's console script (beside sys.executable, not found on PATH)."""
    bindir = Path(sys.executable).absolute().parent
    script = bindir / "nodetool-gateway"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [str(Path(sys.executable).absolute()), "-m", "nodetool_gateway"]


_ENV_FILE_HEADER = """\
# Environment of {unit} (systemd's EnvironmentFile: KEY=VALUE lines).
# Secrets belong here, not in the unit; this file is readable by you alone.
# After a change: systemctl --user restart {unit}
#GATEWAY_AUTH_TOKEN=
"""


def _write_env_file(path: Path, unit: str) -> bool:
    """Create the env file (mode 0600) with a commented example; False if it exists."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_ENV_FILE_HEADER.format(unit=unit))
    return True


def _systemctl() -> str | None:
    return shutil.which("systemctl")


def _run_systemctl(systemctl: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([systemctl, "--user", *args], capture_output=True, text=True,
                          check=False)


def _failure(message: str, code: int):
    from .cli import _Failure

    return _Failure(message, code)


@click.group("service")
def service() -> None:
    """Run a node as a systemd user service (install, uninstall, status)."""


def _checked_name(ctx: click.Context, param: click.Parameter, name: str | None) -> str | None:
    try:
        unit_name(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return name


_name_option = click.option(
    "--name", metavar="NAME", default=None, callback=_checked_name,
    help="Service name suffix: nodetool-gateway-NAME.service (several nodes on one machine).")


@service.command("install")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--env", "environment", metavar="NAME",
              help="Environment: reads environments/NAME.yaml beside CONFIG.")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
              help="Override a template value (repeatable); seen as values.KEY.PATH.")
@_name_option
@click.option("--no-start", is_flag=True, help="Write the unit; don't enable or start it.")
@click.option("--print", "print_only", is_flag=True,
              help="Print the unit to stdout and write nothing.")
def install(config: str, environment: str | None, sets: tuple[str, ...], name: str | None,
            no_start: bool, print_only: bool) -> None:
    """Write a systemd user unit that runs `nodetool-gateway run CONFIG`, then enable and
    (re)start it.

    The config is validated first, with the environment the service will have (the
    user manager's variables and the unit's env file), and refused if invalid (exit 78).
    """
    from .config import ConfigError, load

    unit = unit_name(name)
    env_file = env_file_path(name)
    config_path = Path(os.path.abspath(config))
    # Made first, even if the config turns out invalid: it is where the missing
    # secret goes.
    if not print_only and _write_env_file(env_file, unit):
        click.echo(f"wrote {env_file} (mode 0600): put secrets such as GATEWAY_AUTH_TOKEN here",
                   err=True)
    try:
        snapshot = load(config_path, environment=environment, sets=sets,
                        environ=service_environment(env_file))
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise _failure(
            f"{config}: {len(exc.problems)} problem(s), see above; nothing installed. The "
            f"service sees the user manager's environment and {env_file}, not this shell's: "
            "put the variables the config needs (GATEWAY_AUTH_TOKEN=...) in that file",
            _EXIT_CONFIG) from None
    from ._redact import redact

    cfg = snapshot.config
    try:
        token = "a token" if cfg.gateway.token() else "no token"
    except OSError:
        token = "a token file"
    click.echo(redact(f"{config}: ok, as the service will see it: node {cfg.node.id} joins "
                      f"{cfg.gateway.public_url} with {token}", snapshot.secrets),
               err=print_only)
    argv = [*_executable(), "run", str(config_path)]
    if environment:
        argv += ["--env", environment]
    for item in sets:
        argv += ["--set", item]
    spec = UnitSpec(argv=argv, working_directory=config_path.parent, env_file=env_file,
                    heartbeat_interval=cfg.heartbeat.interval,
                    shutdown_grace=cfg.shutdown.grace,
                    description=f"nodetool-gateway node {cfg.node.id} ({config_path})")
    try:
        text = unit_text(spec)
    except ValueError as exc:
        raise _failure(str(exc), _EXIT_CONFIG) from None
    if print_only:
        click.echo(text, nl=False)
        return

    path = unit_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path} (secrets go in {env_file})")

    systemctl = _systemctl()
    steps = [("daemon-reload",)] if no_start else [
        ("daemon-reload",), ("enable", unit), ("restart", "--no-block", unit)]
    if systemctl is None:
        click.echo("systemctl not found: nothing enabled. Where systemd runs:")
        for step in steps:
            click.echo(f"  systemctl --user {' '.join(step)}")
    else:
        for step in steps:
            done = _run_systemctl(systemctl, *step)
            if done.returncode != 0:
                reason = (done.stderr or done.stdout).strip() or f"exit {done.returncode}"
                raise _failure(
                    f"systemctl --user {' '.join(step)} failed: {reason}. The unit is written; "
                    "without a login session run `loginctl enable-linger $USER` first, then "
                    f"`systemctl --user daemon-reload && systemctl --user enable --now {unit}`",
                    _EXIT_UNAVAILABLE)
        if no_start:
            click.echo(f"not started (--no-start): systemctl --user enable --now {unit}")
        else:
            click.echo(f"enabled and starting {unit}")
    status = f"nodetool-gateway service status{f' --name {name}' if name else ''}"
    click.echo("\n".join([
        "next:",
        f"  {status}   # or: systemctl --user status {unit}",
        f"  journalctl --user -u {unit} -f          # its log",
        f"  systemctl --user reload {unit}          # re-read {config_path.name} now (SIGHUP)",
        f"  systemctl --user restart {unit}         # after editing {env_file}",
        "  loginctl enable-linger $USER   # keep it running without a login session, start at boot",
        ("  install again after changing heartbeat.interval or shutdown.grace: the unit's "
         "watchdog and stop timeout come from them"),
    ]))


@service.command("uninstall")
@_name_option
def uninstall(name: str | None) -> None:
    """Stop and disable the unit and remove its file (the env file is kept)."""
    unit = unit_name(name)
    path = unit_path(name)
    if not path.exists():
        raise _failure(f"no unit at {path}: nothing to uninstall", 1)
    systemctl = _systemctl()
    if systemctl is not None:
        done = _run_systemctl(systemctl, "disable", "--now", unit)
        if done.returncode != 0:
            click.echo(f"systemctl --user disable --now {unit}: "
                       f"{(done.stderr or done.stdout).strip()}", err=True)
    path.unlink()
    click.echo(f"removed {path}")
    if systemctl is not None:
        _run_systemctl(systemctl, "daemon-reload")
        _run_systemctl(systemctl, "reset-failed", unit)
    else:
        click.echo(f"systemctl not found: if {unit} runs somewhere, stop it yourself")
    env_file = env_file_path(name)
    if env_file.exists():
        click.echo(f"kept {env_file} (it may hold secrets; delete it if no longer needed)")


@service.command("status")
@_name_option
def status(name: str | None) -> None:
    """Show the unit's state and last log lines (`systemctl --user status`)."""
    unit = unit_name(name)
    systemctl = _systemctl()
    if systemctl is None:
        raise _failure(f"systemctl not found: {unit} can only run where systemd does "
                       f"(unit file: {unit_path(name)})", _EXIT_UNAVAILABLE)
    code = subprocess.call([systemctl, "--user", "status", "--no-pager", unit])
    sys.exit(code)
