"""Validating rendered YAML: defaults, errors at FILE:LINE:COL, gateway rules, routes, paths."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from nodetool_gateway.config import (
    Config,
    ConfigError,
    GatewayConfig,
    Problem,
    RouteConfig,
    default_config,
    render,
    validate,
)

SECRET = "hunter2-Sekr3t"
DURATION_MSG = "Input should be a duration such as 250ms, 30s, 5m or 1h30m, or a non-negative number of seconds"


def load_config(path: Path, **kw) -> Config:
    return validate(render(path, environ=kw.pop("environ", {}), **kw))


def problems(path: Path, **kw) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        load_config(path, **kw)
    return [str(p) for p in exc.value.problems]


def test_defaults(monkeypatch, tmp_path):
    """Config() holds the documented defaults."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    c = Config()
    assert c.gateway.url == "ws://127.0.0.1:8080"
    assert c.gateway.protocol == "nodetool"
    assert c.gateway.token() is None
    assert c.gateway.auth.query_param is None
    assert c.gateway.allow_insecure is False
    assert c.gateway.open_timeout == 10.0
    assert c.gateway.max_message_size == 16 * 1024 * 1024
    assert c.node.id == f"node-{socket.gethostname()}"
    assert c.node.user_id == "1"
    assert c.node.metadata == {}
    assert (c.heartbeat.interval, c.heartbeat.timeout) == (30.0, 60.0)
    r = c.retry
    assert (r.initial_delay, r.max_delay, r.multiplier, r.jitter, r.max_attempts) == (1.0, 60.0, 2.0, 1.0, None)
    lim = c.limits
    assert (lim.max_concurrency, lim.max_pending, lim.outbox_max_messages, lim.remember_answers) == (
        32, 1000, 10000, 10000)  # fmt: skip
    assert lim.default_timeout == 600.0
    assert c.shutdown.grace == 30.0
    assert c.routes == {} and c.commands == {}
    assert c.storage.path == tmp_path / ".local/share/nodetool-gateway/nodes" / c.node.id
    assert c.workflows.paths == [Path("workflows")]
    assert (c.logging.level, c.logging.format) == ("INFO", "text")


def test_empty_file_is_defaults(write, tmp_path):
    """An empty file validates to the defaults, with relative paths anchored at its folder."""
    c = load_config(write("node.yaml", ""))
    assert c == Config(workflows={"paths": [tmp_path / "workflows"]})
    assert c.workflows.paths == [tmp_path / "workflows"]


def test_equality_ignores_positions(write):
    """Configs with the same settings are equal wherever their keys sit."""
    a = load_config(write("a.yaml", "logging: {level: debug}\n"))
    b = load_config(write("b.yaml", "\n\n# moved\nlogging:\n  level: DEBUG\n"))
    assert a == b


def test_models_are_frozen():
    """Config sections cannot be changed after validation."""
    with pytest.raises(Exception):
        Config().gateway.url = "ws://x"  # type: ignore[misc]


def test_default_config_overrides_keys():
    """default_config() replaces only the keys given."""
    c = default_config(gateway={"url": "ws://localhost:9"}, heartbeat={"interval": "5s"})
    assert c.gateway.url == "ws://localhost:9"
    assert c.gateway.protocol == "nodetool"
    assert (c.heartbeat.interval, c.heartbeat.timeout) == (5.0, 60.0)


def test_default_config_errors():
    """default_config() raises ConfigError naming the bad key."""
    with pytest.raises(ConfigError) as exc:
        default_config(retry={"jitter": 2})
    assert str(exc.value) == "<arguments>:1:1: retry.jitter: Input should be less than or equal to 1"


def test_extra_key_position(write):
    """An unknown key is reported at that key."""
    path = write("node.yaml", "gateway:\n  url: ws://127.0.0.1:1\n  urll: x\n")
    assert problems(path) == [f"{path}:3:3: gateway.urll: Extra inputs are not permitted"]


def test_wrong_type_position(write):
    """A wrong type is reported at its key, also inside a flow mapping."""
    path = write("node.yaml", "limits: {max_concurrency: lots}\n")
    assert problems(path) == [
        f"{path}:1:10: limits.max_concurrency: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_missing_field_position(write):
    """A missing field is reported at its parent key."""
    path = write("node.yaml", "commands:\n  greet:\n    timeout: 5s\n")
    assert problems(path) == [f"{path}:2:3: commands.greet.handler: Field required"]


def test_nested_and_list_positions(write):
    """Nested keys and list items are reported at their own line and column."""
    path = write(
        "node.yaml",
        """\
        heartbeat:
          interval: soon
        workflows:
          paths:
            - ./a
            - [nested]
        """,
    )
    assert problems(path) == [
        f"{path}:2:3: heartbeat.interval: {DURATION_MSG}",
        f"{path}:6:7: workflows.paths.1: Input is not a valid path for <class 'pathlib.Path'>",
    ]


def test_root_not_a_mapping(write):
    """A document that is not a mapping is reported at 1:1."""
    path = write("node.yaml", "- 1\n")
    assert problems(path) == [f"{path}:1:1: (root): Input should be a valid dictionary or instance of Config"]


def test_all_problems_reported(write):
    """Every problem is reported at once, in file order."""
    path = write(
        "node.yaml",
        """\
        gateway:
          url: ws://127.0.0.1:9000
          bogus: 1
        heartbeat:
          interval: 0s
        retry:
          max_attempts: 0
          jitter: 1.5
        logging: {level: LOUD, format: xml}
        """,
    )
    assert problems(path) == [
        f"{path}:3:3: gateway.bogus: Extra inputs are not permitted",
        f"{path}:5:3: heartbeat.interval: Duration should be greater than 0",
        f"{path}:7:3: retry.max_attempts: Input should be greater than or equal to 1",
        f"{path}:8:3: retry.jitter: Input should be less than or equal to 1",
        f"{path}:9:11: logging.level: Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        f"{path}:9:24: logging.format: Input should be 'text' or 'json'",
    ]


def test_yaml_syntax_error_position(write):
    """A YAML syntax error is reported at the parser's mark."""
    path = write("node.yaml", "gateway:\n  url: ws://x\n   protocol: nodetool\n")
    assert problems(path) == [f"{path}:3:12: (yaml): mapping values are not allowed here"]


def test_duplicate_keys_reported(write):
    """Duplicate keys, which YAML would silently merge, are reported."""
    path = write("node.yaml", "logging:\n  level: INFO\n  level: DEBUG\n")
    assert problems(path) == [f"{path}:3:3: logging.level: duplicate key 'level' (first on line 2); remove one, or merge them"]


def test_alias_bomb_refused_before_it_expands(write):
    """Aliases of aliases (a 700-byte file that expands to billions of values) are refused
    at once, at the value where the expansion passes the bound; nothing is built."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = write("node.yaml", "metadata_bomb:\n" + "".join(f"  {line}\n" for line in levels))
    found = problems(path)
    assert len(found) == 1 and "expands to more than 100,000 values through its aliases" in found[0]


def test_oversized_file_refused(write):
    """A file past the size bound is refused before it is parsed."""
    path = write("node.yaml", "# " + "x" * (2 * 1024 * 1024) + "\n")
    assert problems(path) == [f"{path}:1:1: (yaml): the file is 2,097,155 characters; "
                              "a config may be at most 2,097,152"]


def test_a_few_aliases_are_fine(write, tmp_path):
    """Anchors and aliases a real config uses still work."""
    path = write("node.yaml", """\
        x-timeouts: &slow {timeout: 2h, concurrency: 2}
        commands:
          list_workflows: {handler: "nodetool_gateway.handlers.workflows:list_workflows", <<: *slow}
    """)
    with pytest.raises(ConfigError) as exc:  # x-timeouts is not a section: the alias was read
        load_config(path)
    assert any("x-timeouts" in str(p) for p in exc.value.problems)


def test_yaml_merge_keys_allowed(write):
    """A YAML merge key (<<) may be overridden without a duplicate-key error."""
    path = write("node.yaml", "heartbeat:\n  <<: {interval: 5s, timeout: 9s}\n  timeout: 10s\n")
    c = load_config(path)
    assert (c.heartbeat.interval, c.heartbeat.timeout) == (5.0, 10.0)


def test_null_section_is_defaults(write):
    """A section whose children are all commented out means its defaults."""
    assert load_config(write("node.yaml", "retry:\n#  jitter: 0\ncommands:\n")).retry == Config().retry


def test_durations_and_sizes_in_file(write):
    """Durations and sizes accept every documented form."""
    path = write(
        "node.yaml",
        """\
        gateway: {open_timeout: 250ms, max_message_size: 512KiB}
        heartbeat: {interval: 1h30m, timeout: 7200}
        shutdown: {grace: 1.5}
        limits: {default_timeout: 5m}
        """,
    )
    c = load_config(path)
    assert (c.gateway.open_timeout, c.gateway.max_message_size) == (0.25, 512 * 1024)
    assert (c.heartbeat.interval, c.heartbeat.timeout) == (5400.0, 7200.0)
    assert (c.shutdown.grace, c.limits.default_timeout) == (1.5, 300.0)


def test_node_user_id_int_and_level_case(write):
    """An int user_id becomes a string; the log level is case-insensitive."""
    c = load_config(write("node.yaml", "node: {user_id: 42, id: n1}\nlogging: {level: warning}\n"))
    assert (c.node.user_id, c.node.id, c.logging.level) == ("42", "n1", "WARNING")


def test_empty_node_id_refused(write):
    """An empty node id is refused."""
    path = write("node.yaml", "node:\n  id: ''\n")
    assert problems(path) == [f"{path}:2:3: node.id: String should have at least 1 character"]


def test_retry_delays_ordered(write):
    """max_delay below initial_delay is refused at max_delay."""
    path = write("node.yaml", "retry:\n  initial_delay: 2m\n  max_delay: 1m\n  multiplier: 0.5\n")
    assert problems(path) == [
        f"{path}:4:3: retry.multiplier: Input should be greater than or equal to 1",
    ]
    path = write("node2.yaml", "retry:\n  initial_delay: 2m\n  max_delay: 1m\n")
    assert problems(path) == [f"{path}:3:3: retry.max_delay: max_delay should be at least initial_delay"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8080", "URL should start with ws:// or wss://"),
        ("ws://", "URL should include a host, e.g. ws://127.0.0.1:8080"),
        ("ws://127.0.0.1:notaport", "URL has an invalid port"),
        (
            "ws://gateway.example.com:8080",
            "ws:// to a host that is not loopback is unencrypted; use wss:// or set gateway.allow_insecure: true "
            "(connect --allow-insecure; GatewayClient(..., allow_insecure=True))",
        ),
        (
            "ws://10.0.0.5",
            "ws:// to a host that is not loopback is unencrypted; use wss:// or set gateway.allow_insecure: true "
            "(connect --allow-insecure; GatewayClient(..., allow_insecure=True))",
        ),
    ],
)
def test_bad_urls_refused(write, url, message):
    """Non-ws URLs, missing hosts, bad ports and ws:// to remote hosts are refused at gateway.url."""
    path = write("node.yaml", f"gateway:\n  url: {url}\n")
    assert problems(path) == [f"{path}:2:3: gateway.url: {message}"]


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:8080", "ws://127.9.9.9", "ws://localhost:1/x", "ws://[::1]:8080", "wss://gateway.example.com"]
)
def test_loopback_and_wss_allowed(write, url):
    """ws:// to loopback and wss:// anywhere are fine."""
    assert load_config(write("node.yaml", f"gateway: {{url: '{url}'}}\n")).gateway.url == url


def test_allow_insecure_permits_remote_ws(write):
    """allow_insecure: true permits ws:// to a remote host."""
    path = write("node.yaml", "gateway: {url: 'ws://gateway.example.com', allow_insecure: true}\n")
    assert load_config(path).gateway.url == "ws://gateway.example.com"


def test_tls_with_ws_refused(write):
    """TLS settings with a ws:// URL are refused at gateway.tls."""
    write("ca.pem", "x")
    path = write("node.yaml", "gateway:\n  url: ws://127.0.0.1:1\n  tls:\n    ca_file: ca.pem\n")
    assert problems(path) == [f"{path}:3:3: gateway.tls: tls settings need a wss:// url"]


def test_tls_files_relative_and_paired(write, tmp_path):
    """TLS paths are taken from the config's folder; cert_file needs key_file."""
    for name in ("ca.pem", "cert.pem", "key.pem"):
        write(f"certs/{name}", "x")
    path = write(
        "node.yaml",
        "gateway:\n  url: wss://gw\n  tls: {ca_file: certs/ca.pem, cert_file: certs/cert.pem, key_file: certs/key.pem}\n",
    )
    tls = load_config(path).gateway.tls
    assert (tls.ca_file, tls.cert_file, tls.key_file) == tuple(tmp_path / "certs" / n for n in ("ca.pem", "cert.pem", "key.pem"))
    path = write("half.yaml", "gateway:\n  url: wss://gw\n  tls:\n    cert_file: certs/cert.pem\n")
    assert problems(path) == [f"{path}:3:3: gateway.tls.key_file: cert_file and key_file go together; set both or neither"]


def test_missing_tls_file(write):
    """A TLS file that does not exist is reported at its key."""
    path = write("node.yaml", "gateway:\n  url: wss://gw\n  tls:\n    ca_file: nope.pem\n")
    assert problems(path) == [
        f"{path}:4:5: gateway.tls.ca_file: File not found; relative paths are taken from the config file's folder"
    ]


def test_token_file(write, tmp_path):
    """token_file is read by token(), relative to the config's folder."""
    write("secrets/token", "tok-from-file\n")
    c = load_config(write("node.yaml", "gateway: {auth: {token_file: secrets/token}}\n"))
    assert c.gateway.auth.token_file == tmp_path / "secrets" / "token"
    assert c.gateway.token() == "tok-from-file"


def test_token_and_token_file_exclusive(write):
    """token and token_file together are refused."""
    write("token", "x")
    path = write("node.yaml", "gateway:\n  auth:\n    token: abc\n    token_file: token\n")
    assert problems(path) == [f"{path}:4:5: gateway.auth.token_file: Set token or token_file, not both"]


def test_query_param(write):
    """query_param is opt-in; empty means off."""
    assert load_config(write("a.yaml", "gateway: {auth: {query_param: token}}\n")).gateway.auth.query_param == "token"
    assert load_config(write("b.yaml", "gateway: {auth: {query_param: ''}}\n")).gateway.auth.query_param is None


def test_paths_anchor_at_config_folder(write, tmp_path):
    """Relative workflow and storage paths are taken from the config's folder; ~ is expanded."""
    c = load_config(write("sub/node.yaml", "storage: {path: data}\nworkflows: {paths: [wf, /abs, ~/x]}\n"))
    assert c.storage.path == tmp_path / "sub" / "data"
    assert c.workflows.paths == [tmp_path / "sub" / "wf", Path("/abs"), Path("~/x").expanduser()]


def test_route_forms(write):
    """A route is a handler string, a mapping, or null."""
    path = write(
        "node.yaml",
        """\
        routes:
          custom: pkg.mod:on_custom
        commands:
          greet: {handler: handlers:greet, timeout: 5s, concurrency: 2}
          list_models: null
        """,
    )
    c = load_config(path)
    assert c.routes == {"custom": RouteConfig(handler="pkg.mod:on_custom")}
    assert c.commands == {
        "greet": RouteConfig(handler="handlers:greet", timeout=5.0, concurrency=2),
        "list_models": None,
    }


def test_bad_routes(write):
    """Handler strings need module:function; timeouts and concurrency are checked."""
    path = write(
        "node.yaml",
        """\
        commands:
          a: no_colon
          b: {handler: "mod:fn", concurrency: 0}
          c: {handler: "mod:fn", timeout: forever}
          d: {handler: "mod:fn", extra: 1}
          e: 5
        """,
    )
    hint = "Handler should be written module:function, e.g. my_package.handlers:on_message"
    assert problems(path) == [
        f"{path}:2:3: commands.a.handler: {hint}",
        f"{path}:3:26: commands.b.concurrency: Input should be greater than or equal to 1",
        f"{path}:4:26: commands.c.timeout: {DURATION_MSG}",
        f"{path}:5:26: commands.d.extra: Extra inputs are not permitted",
        f"{path}:6:3: commands.e: Input should be a valid dictionary or instance of RouteConfig",
    ]


def test_secret_substituted_in_whole_and_part(write):
    """Secret markers are replaced inside every string, whole or part."""
    path = write(
        "node.yaml",
        """\
        gateway:
          url: "wss://{{ secret('HOST') }}:443/ws"
          auth: {token: "{{ secret('TOKEN') }}"}
        node:
          metadata: {key: "pre-{{ secret('TOKEN') }}-post"}
        """,
    )
    c = load_config(path, environ={"HOST": "gw.example.com", "TOKEN": SECRET})
    assert c.gateway.url == "wss://gw.example.com:443/ws"
    assert c.gateway.token() == SECRET
    assert c.node.metadata == {"key": f"pre-{SECRET}-post"}
    assert SECRET not in repr(c.gateway)


def test_secret_not_in_validation_errors(write):
    """A bad value that holds a secret is reported without the secret."""
    path = write(
        "node.yaml",
        """\
        gateway:
          url: "{{ secret('S') }}"
          extra: "{{ secret('S') }}"
        heartbeat: {interval: "{{ secret('S') }}"}
        node: {user_id: ["{{ secret('S') }}"]}
        """,
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={"S": SECRET})
    assert len(exc.value.problems) == 4
    assert SECRET not in str(exc.value)


def test_secret_not_in_yaml_errors(write):
    """A YAML syntax error near a secret does not show it."""
    path = write("node.yaml", "gateway:\n  auth: {token: \"{{ secret('S') }}\"\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, environ={"S": SECRET})
    assert exc.value.problems[0].path == "(yaml)"
    assert SECRET not in str(exc.value)


def test_problem_str():
    """A problem prints as FILE:LINE:COL: path: message."""
    assert str(Problem("n.yaml", 3, 5, "gateway.url", "bad")) == "n.yaml:3:5: gateway.url: bad"
    error = ConfigError([Problem("a", 1, 1, "x", "m1"), Problem("a", 2, 1, "y", "m2")])
    assert str(error) == "a:1:1: x: m1\na:2:1: y: m2"


def test_gateway_model_usable_directly(tmp_path):
    """Models validate on their own, and token() reads token_file."""
    (tmp_path / "t").write_text("abc\n")
    g = GatewayConfig(url="wss://gw", auth={"token_file": str(tmp_path / "t")})
    assert g.token() == "abc"
    assert GatewayConfig(auth={"token": ""}).token() is None


def test_null_providers_means_nodetools_variables():
    """providers: null keeps null (providers from OPENAI_API_KEY & co.), unlike an emptied section."""
    from nodetool_gateway.config import Config
    from nodetool_gateway.providers import LanguageModels

    config = Config.model_validate({"providers": None, "retry": None})
    assert config.providers is None and config.retry == Config().retry
    models = LanguageModels.from_config(config, {"OPENAI_API_KEY": "sk-x"})
    assert models.names == ["openai"] and models.implicit
    assert LanguageModels.from_config(Config.model_validate({"providers": {}}), {"OPENAI_API_KEY": "k"}).names == []


def test_default_storage_is_one_folder_per_node(monkeypatch, tmp_path, write):
    """Without storage.path each node id has its own folder; an id is made safe as a name."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    root = tmp_path / ".local/share/nodetool-gateway"
    a = load_config(write("a.yaml", "node: {id: box-a}\n"))
    b = load_config(write("b.yaml", "node: {id: box-b}\n"))
    assert a.storage.path == root / "nodes" / "box-a"
    assert b.storage.path == root / "nodes" / "box-b"
    odd = Config(node={"id": "../a/b"}).storage.path
    assert odd.parent == root / "nodes" and odd.name.startswith("_a_b-")
    assert Config(node={"id": "_a_b"}).storage.path.name == "_a_b"  # no clash with ../a/b
    assert load_config(write("c.yaml", "node: {id: box-a}\nstorage: {path: data}\n")).storage.path \
        == tmp_path / "data"


def test_default_storage_keeps_an_existing_shared_folder(monkeypatch, tmp_path):
    """A database left in the old shared folder keeps being used until the node has its own."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    root = tmp_path / ".local/share/nodetool-gateway"
    (root / "openclaw").mkdir(parents=True)
    (root / "openclaw" / "device.json").write_bytes(b"{}")
    assert Config(node={"id": "old-box"}).storage.path == root
    (root / "nodetool-gateway.db").write_bytes(b"")
    (root / "openclaw" / "device.json").unlink()
    assert Config(node={"id": "old-box"}).storage.path == root
    (root / "nodes" / "old-box").mkdir(parents=True)
    assert Config(node={"id": "old-box"}).storage.path == root / "nodes" / "old-box"
