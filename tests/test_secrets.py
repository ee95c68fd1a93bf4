"""The gateway token never shows in logs, in `render`, or in a URL it wasn't asked into."""

from __future__ import annotations

import asyncio
import io
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from conftest import GatewayPeer

from nodetool_gateway import GatewayClient
from nodetool_gateway.cli import cli
from nodetool_gateway.config import load
from nodetool_gateway.logs import setup_logging

TOKEN = "s3cr&t/tok=en+42"

CONFIG = """\
gateway:
  url: "{url}/gw?v=2"
  auth:
    token: "{{{{ secret('NODE_TOKEN') }}}}"
{extra}
node: {{id: secret-node}}
retry: {{initial_delay: 0.05, jitter: 0}}
logging: {{level: DEBUG}}
"""


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    root = logging.getLogger()
    for h in [h for h in root.handlers if h.get_name() == "nodetool-gateway"]:
        root.removeHandler(h)
    yield stream
    for h in [h for h in root.handlers if h.get_name() == "nodetool-gateway"]:
        root.removeHandler(h)
    logging.getLogger("nodetool").setLevel(logging.NOTSET)
    root.setLevel(logging.WARNING)


@pytest.mark.asyncio
@pytest.mark.parametrize("in_query", [False, True])
async def test_token_never_logged(tmp_path, monkeypatch, log_stream, peer, in_query):
    """At DEBUG, with the token in the header or (opt-in) the query, no log line shows it."""
    monkeypatch.setenv("NODE_TOKEN", TOKEN)
    extra = "    query_param: token" if in_query else ""
    path = tmp_path / "node.yaml"
    path.write_text(CONFIG.format(url=peer.url, extra=extra))
    snapshot = load(path)
    setup_logging("DEBUG", "text", snapshot.secrets, stream=log_stream)
    logging.getLogger().setLevel(logging.DEBUG)  # websockets' own debug lines too
    client = GatewayClient(snapshot=snapshot)
    node = asyncio.create_task(client.run())
    try:
        conn, _ = await peer.registered()
        await conn.call("list_models")
        logging.getLogger("nodetool.gateway.test").info("token is %s", TOKEN)
    finally:
        client.stop()
        await asyncio.wait_for(node, 5)
    query = parse_qs(urlsplit(conn.path).query)
    assert query["v"] == ["2"]
    if in_query:
        assert query["token"] == [TOKEN]  # encoded properly, beside the existing query
    else:
        assert "token" not in query
    assert conn.headers["Authorization"] == f"Bearer {TOKEN}"
    text = log_stream.getvalue()
    # websockets' own debug lines were logged, and redacted.
    assert "Authorization: Bearer **********" in text
    if in_query:
        assert "GET /gw?v=2&token=********** HTTP/1.1" in text
    assert "registered with" in text
    assert "token is **********" in text
    for form in (TOKEN, "s3cr%26t", "s3cr&t"):
        assert form not in text


@pytest.mark.asyncio
async def test_refused_token_not_in_error(tmp_path, monkeypatch):
    """The message for a refused credential names the gateway, not the token."""
    from nodetool_gateway.errors import AuthRefused

    monkeypatch.setenv("NODE_TOKEN", TOKEN)
    gw = await GatewayPeer(reject_status=403).start()
    try:
        path = tmp_path / "node.yaml"
        path.write_text(CONFIG.format(url=gw.url, extra="    query_param: token"))
        with pytest.raises(AuthRefused) as info:
            await GatewayClient(snapshot=load(path)).run()
    finally:
        await gw.stop()
    assert "HTTP 403" in str(info.value) and TOKEN not in str(info.value)
    assert "s3cr" not in str(info.value)


def test_render_masks_the_token(tmp_path):
    """`render` prints the effective config with the token as **********."""
    path = tmp_path / "node.yaml"
    path.write_text(CONFIG.format(url="ws://127.0.0.1:1", extra=""))
    result = CliRunner().invoke(cli, ["render", str(path)], env={"NODE_TOKEN": TOKEN})
    assert result.exit_code == 0, result.output
    assert "**********" in result.output
    assert TOKEN not in result.output and "s3cr" not in result.output
    assert "secret-node" in result.output


# Quotes of both kinds, a backslash and non-ASCII: each escaping writes it differently.
ODD = "s3cr\"t'k\\ey-é€-tail9"


def forms_of(value: str) -> list[str]:
    """The ways a value shows up escaped, and its ASCII ends, which every form keeps."""
    import json
    from urllib.parse import quote, quote_plus

    return [value, repr(value)[1:-1], ascii(value)[1:-1], json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1], repr(repr(value))[1:-1],
            quote(value, safe=""), quote_plus(value), "s3cr", "tail9"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_odd_token_not_in_template_error(tmp_path, where):
    """A token with quotes, a backslash and non-ASCII is in no form in a template error."""
    line = "  metadata: {m: \"{{ values[env.NODE_TOKEN] }}\"}\n"
    body = "node:\n" + (line if where == "before" else "") + \
        "gateway:\n  auth:\n    token: \"{{ secret('NODE_TOKEN') }}\"\n"
    if where == "after":
        body += "extra: \"{{ values[env.NODE_TOKEN] }}\"\n"
    path = tmp_path / "node.yaml"
    path.write_text(body)
    result = CliRunner().invoke(cli, ["render", str(path)], env={"NODE_TOKEN": ODD})
    assert result.exit_code == 78
    assert "(template): 'dict object' has no attribute '**********'" in result.output
    for form in forms_of(ODD):
        assert form not in result.output


@pytest.mark.asyncio
async def test_odd_token_not_in_logs(tmp_path, monkeypatch, log_stream):
    """A failed reload's error, and the token logged escaped, show no form of it."""
    import json
    from urllib.parse import quote

    from nodetool_gateway.reload import ConfigWatcher

    monkeypatch.setenv("NODE_TOKEN", ODD)
    path = tmp_path / "node.yaml"
    path.write_text(CONFIG.format(url="ws://127.0.0.1:1", extra=""))
    snapshot = load(path)
    setup_logging("DEBUG", "json", snapshot.secrets, stream=log_stream)

    async def apply(_snapshot) -> None:
        raise AssertionError("a broken config was applied")

    path.write_text(path.read_text() + "extra: \"{{ values[env.NODE_TOKEN] }}\"\n")
    watcher = ConfigWatcher(path, apply, current=snapshot)
    assert await watcher.reload() is False
    log = logging.getLogger("nodetool.gateway.test")
    log.info("as repr: %r; as JSON: %s; in a URL: %s", ODD, json.dumps({"t": ODD}), quote(ODD))
    log.info("twice: %r", {"error": repr(ODD)})
    try:
        raise KeyError(ODD)
    except KeyError:
        log.warning("lookup failed", exc_info=True)
    text = log_stream.getvalue()
    assert "reload failed" in text and text.count("**********") >= 6
    # The JSON formatter escapes again: read each line back before looking.
    for entry in map(json.loads, text.splitlines()):
        logged = json.dumps(entry, ensure_ascii=False) + entry["message"] + entry.get("exception", "")
        for form in forms_of(ODD):
            assert form not in logged


def test_template_cannot_read_secret_values(tmp_path):
    """secret() is a plain function: what it read is out of the template's reach."""
    from nodetool_gateway.config import ConfigError, render

    probes = ["secret.markers", "secret.__closure__", "secret.__self__", "secret.__globals__",
              "secret('T') | list | join", "secret('T') ~ ''"]
    body = "a: \"{{ secret('T') }}\"\n" + "".join(
        f"p{i}: \"{{{{ ({probe}) | default('nothing') }}}}\"\n" for i, probe in enumerate(probes))
    path = tmp_path / "node.yaml"
    path.write_text(body)
    rendered = render(path, environ={"T": ODD})
    lines = [line.partition(": ")[2].strip('"') for line in rendered.text.splitlines()]
    assert lines[1:5] == ["nothing"] * 4
    assert lines[5] in rendered.secrets and lines[6] in rendered.secrets  # a marker, no value
    for form in forms_of(ODD):
        assert form not in rendered.text
    assert set(rendered.secrets.values()) == {ODD}
    # Reaching into the function's closure is refused outright.
    path.write_text("a: \"{{ secret('T') }}{{ secret.__closure__[0].cell_contents }}\"\n")
    with pytest.raises(ConfigError, match="unsafe") as info:
        render(path, environ={"T": ODD})
    for form in forms_of(ODD):
        assert form not in str(info.value)
