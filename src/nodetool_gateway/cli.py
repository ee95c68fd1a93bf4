"""The ``nodetool-gateway`` command line."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any, Sequence

import click

from . import __version__
from .scaffold import init as init_command
from .service import service as service_group

__all__ = ["main", "cli"]

# Exit codes (sysexits.h where one fits).
EXIT_FAILURE = 1  # an error answer, or an unexpected failure
EXIT_UNAVAILABLE = 69  # the gateway could not be reached
EXIT_NOPERM = 77  # the gateway refused the credentials
EXIT_CONFIG = 78  # the config is invalid

_CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True,
            "max_content_width": 100}


class _Failure(click.ClickException):
    """An error shown as one line, with a meaningful exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _LoggedFailure(_Failure):
    """A running node's last word: through its log handler, so it is in the configured
    format (one JSON object with `logging.format: json`) and secrets are masked."""

    def show(self, file=None) -> None:
        logging.getLogger("nodetool.gateway").critical("%s", self.format_message())


def _config_options(func):
    func = click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE",
                        help="Override a template value (repeatable); seen as values.KEY.PATH.")(func)
    func = click.option("--env", "environment", metavar="NAME",
                        help="Environment: reads environments/NAME.yaml beside CONFIG.")(func)
    return func


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")  # as the config's logging.level


def _log_options(func):
    """``--log-level`` and ``--log-format``, over the config's ``logging`` section.

    Kept in ``ctx.obj`` for :func:`_serve_node`, so the command's own signature is unchanged.
    """
    def keep(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        ctx.obj[param.name] = value

    func = click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
                        expose_value=False, callback=keep, show_default="logging.format",
                        help="Log format (over the config's logging.format).")(func)
    return click.option("--log-level", type=click.Choice(_LOG_LEVELS, case_sensitive=False),
                        default=None, expose_value=False, callback=keep,
                        show_default="logging.level",
                        help="Log level (over the config's logging.level; --debug wins).")(func)


def _log_settings(cfg, debug: bool, override: tuple[str | None, str | None]) -> tuple[str, str]:
    """The log level and format: --debug, then --log-level/--log-format, then the config."""
    level, fmt = override
    return ("DEBUG" if debug else level or cfg.logging.level), fmt or cfg.logging.format


def _load(config: str, environment: str | None, sets: Sequence[str], *, imports: bool = True):
    from .config import ConfigError, load

    try:
        return load(config, environment=environment, sets=sets, imports=imports)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise _Failure(f"{config}: {len(exc.problems)} problem(s), see above", EXIT_CONFIG) from None


def _token_options(envvar: str, what: str):
    """``--auth-token`` and ``--auth-token-file``; the command receives ``auth_token``.

    A token on the command line is visible to every user of the machine (``ps``),
    so the file or the environment variable is the way to pass a real one.
    """
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args: Any, auth_token: str | None, auth_token_file: str | None,
                    **kwargs: Any) -> Any:
            if auth_token_file is not None:
                if auth_token:
                    raise click.UsageError("give --auth-token or --auth-token-file, not both")
                auth_token = Path(auth_token_file).read_text().strip() or None
            return func(*args, auth_token=auth_token, **kwargs)

        wrapper = click.option(
            "--auth-token-file", type=click.Path(exists=True, dir_okay=False),
            help=f"Read {what} from this file (safer than --auth-token, which `ps` shows).")(wrapper)
        return click.option("--auth-token", envvar=envvar,
                            help=f"{what[0].upper()}{what[1:]} [env: {envvar}].")(wrapper)
    return decorate


@click.group(context_settings=_CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="nodetool-gateway")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run NodeTool workflows on this machine for a central gateway.

    Start with `nodetool-gateway demo`, then write a node.yaml
    (see configs/node.yaml) and `nodetool-gateway run node.yaml`.
    """
    ctx.obj = {"debug": debug}


cli.add_command(init_command)
cli.add_command(service_group)


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@_config_options
@click.option("--no-reload", is_flag=True, help="Don't watch the config for changes.")
@_log_options
@click.pass_context
def run(ctx: click.Context, config: str, environment: str | None, sets: tuple[str, ...],
        no_reload: bool) -> None:
    """Join the gateway in CONFIG and serve until stopped (SIGINT/SIGTERM drain first).

    The config is reloaded when it changes, without dropping the connection.
    """
    snapshot = _load(config, environment, sets)
    _serve_node(ctx, snapshot, (config, environment, sets, not no_reload))


@cli.command()
@click.option("--url", envvar="GATEWAY_URL", help="Gateway URL [env: GATEWAY_URL].")
@_token_options("GATEWAY_AUTH_TOKEN", "the bearer token")
@click.option("--node-id", envvar="GATEWAY_NODE_ID", help="Node id [env: GATEWAY_NODE_ID]; default node-HOSTNAME.")
@click.option("--user-id", envvar="GATEWAY_USER_ID", default="1", help="User id [env: GATEWAY_USER_ID].")
@click.option("--heartbeat-interval", type=float, default=30.0, help="Seconds between heartbeats.")
@click.option("--allow-insecure", is_flag=True,
              help="Allow ws:// (no TLS) to a gateway that is not on this machine.")
@_log_options
@click.pass_context
def connect(ctx: click.Context, url: str, auth_token: str | None, node_id: str | None,
            user_id: str, heartbeat_interval: float, allow_insecure: bool) -> None:
    """Join a gateway with the built-in defaults, no config file."""
    from .config import ConfigError, snapshot_from_config
    from .session import _config_from_args

    if not url:
        raise click.UsageError("no gateway URL: give --url URL or set GATEWAY_URL, e.g. "
                               "--url ws://127.0.0.1:8080 for a local `nodetool-gateway serve`")
    try:
        cfg = _config_from_args(url, node_id, auth_token, user_id, heartbeat_interval,
                                allow_insecure)
    except ConfigError as exc:
        raise _Failure("; ".join(f"{p.path}: {p.message}" for p in exc.problems),
                       EXIT_CONFIG) from None
    _serve_node(ctx, snapshot_from_config(cfg), None)


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@_config_options
def validate(config: str, environment: str | None, sets: tuple[str, ...]) -> None:
    """Render, validate and import every handler; print each problem as FILE:LINE:COL."""
    snapshot = _load(config, environment, sets)
    routes = snapshot.routes
    click.echo(f"{config}: ok ({len(routes.commands)} commands, "
               f"{len(routes.messages)} message types)")


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@_config_options
def render(config: str, environment: str | None, sets: tuple[str, ...]) -> None:
    """Print the effective configuration (secrets shown as **********).

    Handlers are shown as written, not imported: no user code runs (`validate` imports them).
    """
    from .config import dump_effective

    click.echo(dump_effective(_load(config, environment, sets, imports=False)), nl=False)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the config file (for editors)."""
    from .config import config_schema

    click.echo(json.dumps(config_schema(), indent=2))


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@_config_options
def routes(config: str, environment: str | None, sets: tuple[str, ...]) -> None:
    """Show which handler answers each command and message type.

    Handlers are shown as written, not imported: no user code runs (`validate` imports them).
    """
    table = _load(config, environment, sets, imports=False).routes
    rows = [("KIND", "NAME", "HANDLER", "TIMEOUT", "CONCURRENCY", "SOURCE")]
    for kind, entries in (("command", table.commands), ("message", table.messages)):
        for name in sorted(entries):
            r = entries[name]
            target = r.target if r.blocking else f"{r.target} (blocking: false)"
            rows.append((kind, name, target, "-" if r.timeout is None else f"{r.timeout:g}s",
                         str(r.concurrency or "-"), r.source))
    for name in sorted(table.disabled):
        rows.append(("-", name, "(disabled)", "-", "-", "config"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


@cli.command()
@click.argument("config", required=False, type=click.Path(exists=True, dir_okay=False))
@_config_options
@click.option("--url", metavar="URL", help="The node's health listener, e.g. http://127.0.0.1:9464.")
@click.option("--timeout", type=float, default=5.0, help="Seconds to wait for each answer.")
def status(config: str | None, environment: str | None, sets: tuple[str, ...], url: str | None,
           timeout: float) -> None:
    """Show whether a running node is ready, and what it has done.

    Reads the node's /readyz and /metrics at observability.listen from CONFIG, or at --url.
    Exits 0 when ready, 1 when not, 69 when nothing answers.
    """
    from .observability.status import Unreachable, show_status, status_url

    if (config is None) == (url is None):
        raise click.UsageError("give CONFIG (a node config with observability.listen) or --url")
    if config is not None:
        address = _load(config, environment, sets, imports=False).config.observability.address
        if address is None:
            raise _Failure(f"{config}: set observability.listen (e.g. 127.0.0.1:9464) for the "
                           "node to serve its status, or pass --url", EXIT_CONFIG)
        if address[1] == 0:
            raise _Failure(f"{config}: observability.listen has port 0 (the node picks one and "
                           "logs it): pass --url", EXIT_CONFIG)
        url = status_url(*address)
    try:
        ready = show_status(url, timeout, click.echo)
    except Unreachable as exc:
        raise _Failure(str(exc), EXIT_UNAVAILABLE) from None
    sys.exit(0 if ready else EXIT_FAILURE)


@cli.command()
@click.option("--host", default="127.0.0.1", help="Interface to listen on.")
@click.option("--port", default=8080, type=int, help="Port (0 picks a free one).")
@_token_options("NODETOOL_GATEWAY_TOKEN", "the bearer token nodes and operators must give")
@click.option("--insecure-no-auth", is_flag=True,
              help="Run without a token; loopback --host only. Every local user and process "
                   "can then drive the nodes.")
@click.option("--allow-query-token", is_flag=True,
              help="Also take the token from the URL (?token=...), as NodeTool's own gateway "
                   "client sends it; loopback --host only (a URL's query is logged and "
                   "cached in more places than a header).")
@click.option("--allow-origin", "allow_origins", multiple=True, metavar="ORIGIN",
              help="Accept browser connections from ORIGIN, e.g. http://localhost:3000 "
                   "(repeatable). A handshake with any other Origin header gets HTTP 403.")
@click.option("--max-connections", type=click.IntRange(min=1), default=256,
              help="Open connections at most; more get HTTP 503.")
@click.option("--request-timeout", type=click.FloatRange(min=0), default=3600.0,
              help="Seconds a request may wait for its node's answer; then the operator gets "
                   "TIMEOUT and the node a cancel_request (0: no limit).")
@click.option("--rate-limit", type=click.FloatRange(min=0), default=200.0,
              help="Messages per second per connection, on average (0: no limit). "
                   "Over it the connection gets RATE_LIMITED and close 1008.")
@click.option("--rate-burst", type=click.FloatRange(min=1), default=None,
              show_default="twice --rate-limit", help="Messages a connection may send at once.")
@click.option("--log-level", default="INFO", type=click.Choice(_LOG_LEVELS, case_sensitive=False))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, auth_token: str | None, insecure_no_auth: bool,
          allow_query_token: bool, allow_origins: tuple[str, ...], max_connections: int,
          request_timeout: float, rate_limit: float,
          rate_burst: float | None, log_level: str) -> None:
    """Run a local gateway for development, demos, tests and benchmarks.

    Nodes connect to ws://HOST:PORT, operators (`call`) to ws://HOST:PORT/operator.
    A token is required (--auth-token-file, NODETOOL_GATEWAY_TOKEN or --auth-token)
    unless --insecure-no-auth. Production nodes join a real gateway instead.
    """
    from .gateway import serve_forever
    from .logs import setup_logging

    if insecure_no_auth:
        if auth_token:
            raise click.UsageError("give a token or --insecure-no-auth, not both")
        if not _is_loopback(host):
            raise click.UsageError(
                f"--insecure-no-auth is allowed only on a loopback --host (127.0.0.1, ::1, "
                f"localhost), not {host!r}: anyone who can reach {host!r} could drive the nodes. "
                "Give a token with --auth-token-file FILE instead")
    elif not auth_token:
        raise click.UsageError(
            "serve needs a token that nodes and operators must give: put one in a file and pass "
            "--auth-token-file FILE (or set NODETOOL_GATEWAY_TOKEN); or, on a loopback --host "
            "only, pass --insecure-no-auth to run without one")
    if allow_query_token and not _is_loopback(host):
        raise click.UsageError(
            f"--allow-query-token is allowed only on a loopback --host, not {host!r}: serve "
            "speaks plain ws://, and a token in a URL travels and is logged in the clear")
    if allow_query_token and not auth_token:
        raise click.UsageError("--allow-query-token needs a token to check: give one with "
                               "--auth-token-file FILE (or NODETOOL_GATEWAY_TOKEN)")
    setup_logging("DEBUG" if ctx.obj["debug"] else log_level, "text",
                  [auth_token] if auth_token else [])
    try:
        asyncio.run(serve_forever(host, port, auth_token=auth_token or None,
                                  allow_query_token=allow_query_token,
                                  allow_origins=allow_origins,
                                  request_timeout=request_timeout or None, max_connections=max_connections,
                                  rate_limit=rate_limit or None, rate_burst=rate_burst))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise _Failure(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_UNAVAILABLE) from None


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cli.command()
@click.argument("command")
@click.option("--args", "args_json", default="{}", metavar="JSON|@FILE|-",
              help="Arguments, a JSON object: inline, @FILE to read it from a file, - from stdin.")
@click.option("--node", "node_id", help="Node id (default: the only node connected).")
@click.option("--gateway", default="ws://127.0.0.1:8080", envvar="NODETOOL_GATEWAY_URL",
              help="Gateway started by `serve` [env: NODETOOL_GATEWAY_URL].")
@_token_options("NODETOOL_GATEWAY_TOKEN", "the gateway's token")
@click.option("--timeout", type=float, default=300.0,
              help="Seconds to wait for the answer; then the request is cancelled on the node.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the result, no progress.")
@click.option("--json", "as_json", is_flag=True,
              help="Print each frame as one JSON object a line on stdout (updates as they "
                   "come, then the answer), for scripts.")
def call(command: str, args_json: str, node_id: str | None, gateway: str, auth_token: str | None,
         timeout: float, quiet: bool, as_json: bool) -> None:
    """Send COMMAND (or `workflow_request`) to a node through a local gateway and print the result.

    Progress goes to stderr as it arrives (one live line on a terminal); the result, as
    JSON, to stdout. Ctrl-C or --timeout cancels the request on the node (exit 130, 1).
    """
    from ._progress import Progress

    args = _call_args(args_json)
    progress = None
    if as_json:
        on_update = None if quiet else _print_frame
    elif quiet:
        on_update = None
    else:
        progress = Progress.for_stream(click.get_text_stream("stderr"))
        on_update = progress.update
    answer = asyncio.run(_call(command, args, node_id, gateway, auth_token, timeout, on_update,
                               progress=progress, as_json=as_json))
    if as_json:
        _print_frame(answer)
        if answer.get("status") not in ("success", "completed"):
            code = answer.get("code") or answer.get("status")
            raise _Failure(f"[{code}] {answer.get('error')}", EXIT_FAILURE)
        return
    _print_answer(answer)


@cli.command()
@click.option("--gateway", default="ws://127.0.0.1:8080", envvar="NODETOOL_GATEWAY_URL",
              help="Gateway started by `serve` [env: NODETOOL_GATEWAY_URL].")
@_token_options("NODETOOL_GATEWAY_TOKEN", "the gateway's token")
@click.option("--all", "show_all", is_flag=True, help="Also the nodes that left recently.")
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's list as JSON.")
def nodes(gateway: str, auth_token: str | None, show_all: bool, as_json: bool) -> None:
    """List the nodes connected to a gateway started by `serve`: id, status, commands,
    calls in flight, last heartbeat. (`call list_nodes` asks a node for its node types.)"""
    from datetime import datetime, timezone

    listed = asyncio.run(_list_nodes(gateway, auth_token))
    if not show_all:
        listed = [n for n in listed if n.get("connected")]
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    if not listed:
        click.echo("no nodes connected" if not show_all else "no nodes")
        return
    now = datetime.now(timezone.utc)

    def ago(stamp: Any) -> str:
        try:
            when = datetime.fromisoformat(str(stamp))
        except ValueError:
            return "-"
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return f"{max(0.0, (now - when).total_seconds()):.0f}s ago"

    rows = [("NODE", "STATUS", "COMMANDS", "IN FLIGHT", "LAST HEARTBEAT")]
    for n in listed:
        status = (n.get("status") or "-") if n.get("connected") else "left"
        rows.append((str(n.get("node_id")), str(status), str(len(n.get("commands") or [])),
                     str(n.get("in_flight", 0)), ago(n["last_heartbeat"])
                     if n.get("last_heartbeat") else "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())


async def _list_nodes(gateway: str, auth_token: str | None) -> list[dict[str, Any]]:
    from .gateway import OperatorClient

    try:
        async with OperatorClient.connect(_operator_url(gateway), auth_token=auth_token) as op:
            return await op.list_nodes(timeout=30)
    except TimeoutError:
        raise _Failure(f"the gateway at {gateway} did not answer in time",
                       EXIT_UNAVAILABLE) from None
    except Exception as exc:
        failure = _operator_failure(gateway, exc)
        if failure is None:
            raise
        raise failure from None


def _operator_url(gateway: str) -> str:
    url = gateway.rstrip("/")
    return url if url.endswith("/operator") else url + "/operator"


def _operator_failure(gateway: str, exc: Exception) -> _Failure | None:
    """What `call` and `nodes` say when the gateway cannot be reached or refuses them."""
    if isinstance(exc, OSError):
        return _Failure(f"cannot reach the gateway at {gateway}: {exc.strerror or exc}",
                        EXIT_UNAVAILABLE)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return _Failure(f"the gateway at {gateway} refused the token (HTTP {status})",
                        EXIT_NOPERM)
    if status == 503:
        return _Failure(f"the gateway at {gateway} is at its connection limit (HTTP 503): "
                        "try again later", EXIT_UNAVAILABLE)
    return None


def _call_args(value: str) -> dict[str, Any]:
    """`call --args`: inline JSON, ``@FILE``, or ``-`` for stdin; a usage error names where."""
    source = None
    text = value
    if value == "-":
        source = "stdin"
        text = click.get_text_stream("stdin").read()
    elif value.startswith("@"):
        source = value[1:]
        if not source:
            raise click.BadParameter("give a file after @, e.g. @args.json", param_hint="--args")
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or exc
            raise click.BadParameter(f"cannot read {source}: {why}", param_hint="--args") from None
    try:
        args = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{source}:{exc.lineno}:{exc.colno}" if source else f"line {exc.lineno} column {exc.colno}"
        raise click.BadParameter(f"{where}: not JSON: {exc.msg}", param_hint="--args") from None
    if not isinstance(args, dict):
        raise click.BadParameter(f"{source or 'the value'} must hold a JSON object, not "
                                 f"{type(args).__name__}", param_hint="--args")
    return args


@cli.group()
def assets() -> None:
    """Put files where the node's asset commands find them, and list them."""


def _asset_store(config: str | None, environment: str | None, storage: str | None):
    from .config import default_config
    from .stores import AssetStore, Database

    if storage is None:
        cfg = _load(config, environment, ()).config if config else default_config()
        storage = str(cfg.storage.path)
    root = Path(storage).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return AssetStore(Database(root / "nodetool-gateway.db"), root / "assets")


_asset_options = [
    click.option("--config", "config", type=click.Path(exists=True, dir_okay=False),
                 help="Use storage.path from this node config."),
    click.option("--env", "environment", metavar="NAME", help="Environment for --config."),
    click.option("--storage", type=click.Path(file_okay=False),
                 help="Storage folder (default: from --config, else the built-in default)."),
]


def _with_asset_options(func):
    for option in reversed(_asset_options):
        func = option(func)
    return func


@assets.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--parent", "parent_id", help="Id of a folder asset to put them in.")
@click.option("--name", help="Asset name (one file only; default: the file's name).")
@_with_asset_options
def assets_add(files: tuple[str, ...], parent_id: str | None, name: str | None, config: str | None,
               environment: str | None, storage: str | None) -> None:
    """Copy FILES into the node's assets; print each new asset as JSON."""
    if name and len(files) > 1:
        raise click.BadParameter("--name takes one file", param_hint="--name")
    store = _asset_store(config, environment, storage)
    for file in files:
        try:
            asset = store.add(Path(file), name=name or Path(file).name, parent_id=parent_id)
        except ValueError as exc:
            raise _Failure(f"{file}: {exc}") from None
        click.echo(json.dumps(asset, ensure_ascii=False))


@assets.command("mkdir")
@click.argument("name")
@click.option("--parent", "parent_id", help="Id of the folder asset to make it in.")
@_with_asset_options
def assets_mkdir(name: str, parent_id: str | None, config: str | None, environment: str | None,
                 storage: str | None) -> None:
    """Make a folder asset NAME; print its id (for add --parent)."""
    store = _asset_store(config, environment, storage)
    try:
        folder = store.add_folder(name, parent_id=parent_id)
    except ValueError as exc:
        raise _Failure(str(exc)) from None
    click.echo(folder["id"])


@assets.command("list")
@click.option("--query", help="Only names containing this.")
@click.option("--parent", "parent_id", help="Only assets in this folder.")
@click.option("--limit", default=100, type=int)
@_with_asset_options
def assets_list(query: str | None, parent_id: str | None, limit: int, config: str | None,
                environment: str | None, storage: str | None) -> None:
    """List the node's assets."""
    store = _asset_store(config, environment, storage)
    items, total = store.list(parent_id=parent_id, query=query, limit=limit)
    for a in items:
        click.echo(f"{a['id']}  {a['size']:>10}  {a['content_type']:<24}  {a['name']}")
    click.echo(f"{len(items)} of {total} assets", err=True)


@cli.command()
@click.option("--keep-going", is_flag=True, hidden=True)
@click.option("--provider-url", metavar="URL", default=None,
              help="An OpenAI-compatible server for the LLM step (llama-server, Ollama's /v1, vLLM…).")
@click.option("--model", metavar="ID", default=None, help="The model the LLM step asks for.")
def demo(keep_going: bool, provider_url: str | None, model: str | None) -> None:
    """Start a local gateway and a node on loopback, send them work, show what comes back.

    With a language-model provider (--provider-url, or OPENAI_API_KEY, ANTHROPIC_API_KEY,
    OLLAMA_API_URL), an LLM workflow runs too, its tokens shown as they come.
    """
    from .demo import run_demo

    code = asyncio.run(run_demo(echo=click.echo, provider_url=provider_url, model=model))
    sys.exit(code)


# Helpers


def _run(coro):
    """asyncio.run, on uvloop's event loop when the `speed` extra is installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _serve_node(ctx: click.Context, snapshot, reload_args) -> None:
    from .errors import FatalError
    from .logs import setup_logging

    from ._runtime import tune_gc

    override = (ctx.obj.get("log_level"), ctx.obj.get("log_format"))
    redactor = setup_logging(*_log_settings(snapshot.config, ctx.obj["debug"], override),
                             snapshot.secrets)
    tune_gc()
    try:
        _run(_run_node(snapshot, reload_args, redactor, ctx.obj["debug"], override))
    except FatalError as exc:
        raise _LoggedFailure(str(exc), getattr(exc, "exit_code", EXIT_FAILURE)) from None


async def _run_node(snapshot, reload_args, redactor, debug: bool,
                    log_override: tuple[str | None, str | None] = (None, None)) -> None:
    from .errors import FatalError
    from .logs import setup_logging
    from .reload import ConfigWatcher
    from .session import GatewayClient

    from ._watch import WatchHub, use_hub
    from .errors import Interrupted

    client = GatewayClient(snapshot=snapshot)
    loop = asyncio.get_running_loop()
    # One file watcher for the node: the config and code (unless --no-reload) and the
    # workflow folders (the backend subscribes when it is built) share one inotify instance.
    hub = WatchHub()
    use_hub(hub)
    hub_task = asyncio.create_task(hub.run(), name="file-watch")
    node = asyncio.create_task(client.run())
    signals: list[int] = []
    cancelled = 0
    log = logging.getLogger("nodetool.gateway.client")

    def on_signal(signum: int) -> None:
        nonlocal cancelled
        signals.append(signum)
        if len(signals) == 1:
            client.stop()
        elif len(signals) == 2:
            # A second Ctrl-C: stop now. Running calls are cancelled and say so to the
            # gateway, and the exit code says the node did not finish them.
            cancelled = client.stop_now()
            log.warning("second %s: cancelling %d running calls and stopping now",
                        signal.Signals(signum).name, cancelled)
        else:  # a third: don't even wait for those answers to go out
            node.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, on_signal, sig)

    watcher_task = None
    if reload_args is None:  # `connect`: no file to reload; SIGHUP must not kill the node
        with suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, lambda: logging.getLogger(
                "nodetool.gateway.reload").info("SIGHUP: no config file to reload"))
    else:
        config, environment, sets, watch_file = reload_args

        async def apply(new) -> None:
            cfg = new.config
            setup_logging(*_log_settings(cfg, debug, log_override), new.secrets)
            await client.observer.during_reload(client.apply(new))  # systemd: RELOADING=1, READY=1

        watcher = ConfigWatcher(config, apply, current=snapshot, environment=environment,
                                sets=sets)

        def reverted(good) -> None:
            # The gateway refused a reload's credentials: the node went back to `good`.
            watcher.current = good
            watcher.failed += 1
            setup_logging(*_log_settings(good.config, debug, log_override), good.secrets)

        client.on_revert = reverted
        client.observer.follow_reloads(watcher)
        stamp = watcher.stamp()

        def on_hangup() -> None:
            # systemd's ExecReload (kill -HUP): reload now, watching or not (--no-reload).
            logging.getLogger("nodetool.gateway.reload").info("SIGHUP: reloading %s", config)
            loop.create_task(client.observer.during_reload(watcher.reload()))

        with suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, on_hangup)

        async def watch() -> None:
            # Start watching once registered (or after a second, so a config that
            # cannot connect can still be fixed): setting up the watcher then does
            # not delay the registration. An edit made meanwhile is caught up.
            with suppress(TimeoutError):
                await asyncio.wait_for(client.wait_registered(), 1.0)
            await watcher.run(since=stamp, hub=hub)

        if watch_file:
            watcher_task = asyncio.create_task(watch())
    try:
        await node
    except asyncio.CancelledError:
        if len(signals) < 3:
            raise
    except FatalError:
        raise
    finally:
        # Whatever the watcher did, it must not change how the node stops.
        for task in (watcher_task, hub_task):
            if task is None:
                continue
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                logging.getLogger("nodetool.gateway.reload").warning(
                    "file watcher failed: %s: %s", type(exc).__name__, exc)
    if len(signals) >= 2:
        raise Interrupted(f"stopped by a second {signal.Signals(signals[1]).name}: "
                          f"{cancelled} running calls were cancelled", signals[1])


# Exit codes of a `call` stopped by a signal: 128 + the signal's number, as shells report it.
_SIGNAL_EXITS = {signal.SIGINT: 130, signal.SIGTERM: 143}
_SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class _Interrupted(_Failure):
    """`call` stopped by a signal, after asking the node to cancel the request."""

    def show(self, file=None) -> None:
        click.echo(f"cancelled: {self.format_message()}", err=True)


def _request_frame(command: str, args: dict[str, Any], node_id: str | None) -> dict[str, Any]:
    if command == "workflow_request":  # its fields are the frame's own: workflow_id, params...
        frame = {**args, "type": "workflow_request"}
        frame.setdefault("params", {})
    else:
        frame = {"type": "command_request", "command": command, "args": args}
    if node_id is not None:
        frame["node_id"] = node_id
    return frame


async def _call(command: str, args: dict[str, Any], node_id: str | None, gateway: str,
                auth_token: str | None, timeout: float, on_update, *, progress=None,
                as_json: bool = False) -> dict[str, Any]:
    from .gateway import GatewayError, OperatorClient

    url = _operator_url(gateway)
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    signals: list[int] = []

    def on_signal(signum: int) -> None:
        # Cancelling this task cancels the request on the node (OperatorClient.result).
        signals.append(signum)
        me.cancel()

    installed = []
    for signum in _SIGNAL_EXITS:
        with suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    ticker = loop.create_task(progress.keep_ticking()) if progress is not None else None
    request_id = None
    try:
        async with OperatorClient.connect(url, auth_token=auth_token) as op:
            request_id = await op.request(_request_frame(command, args, node_id),
                                          on_update=on_update)
            return await op.result(request_id, timeout)
    except asyncio.CancelledError:
        if not signals:
            raise
        for _ in signals:
            me.uncancel()
        how = _SIGNAL_NAMES[signals[0]]
        if request_id is None:
            raise _Interrupted(f"{how} before the request was sent",
                               _SIGNAL_EXITS[signals[0]]) from None
        raise _Interrupted(f"{how}: asked the node to cancel {command} (request {request_id})",
                           _SIGNAL_EXITS[signals[0]]) from None
    except TimeoutError:
        if request_id is None:
            raise _Failure(f"the gateway at {gateway} did not complete the handshake in time",
                           EXIT_UNAVAILABLE) from None
        raise _Failure(f"no answer within {timeout:g}s: asked the node to cancel {command} "
                       f"(request {request_id})", EXIT_FAILURE) from None
    except GatewayError as exc:
        if as_json:
            _print_frame(exc.frame)
        raise _Failure(f"[{exc.code}] {exc.message}", EXIT_FAILURE) from None
    except Exception as exc:
        failure = _operator_failure(gateway, exc)
        if failure is None:
            raise
        raise failure from None
    finally:
        if ticker is not None:
            ticker.cancel()
        if progress is not None:
            progress.close()
        for signum in installed:
            loop.remove_signal_handler(signum)


def _print_frame(frame: dict[str, Any]) -> None:
    """`call --json`: one frame, one line on stdout."""
    click.echo(json.dumps(frame, ensure_ascii=False))


def _print_answer(answer: dict[str, Any]) -> None:
    ok = answer.get("status") in ("success", "completed")
    if ok:
        click.echo(json.dumps(answer.get("result"), indent=2, ensure_ascii=False))
        return
    code = answer.get("code") or answer.get("status")
    raise _Failure(f"[{code}] {answer.get('error')}", EXIT_FAILURE)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: errors print one line; --debug shows tracebacks."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=argv, prog_name="nodetool-gateway", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # pragma: no cover - last resort
        if debug:
            raise
        click.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
        sys.exit(EXIT_FAILURE)


if __name__ == "__main__":  # pragma: no cover
    main()
