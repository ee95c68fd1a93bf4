"""The whole pipeline: load, snapshots, the effective dump, the schema, the shipped configs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from nodetool_gateway.config import (
    Config,
    ConfigError,
    config_schema,
    default_config,
    dump_effective,
    load,
    redact,
    render,
    snapshot_from_config,
    validate,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-Sekr3t'\"&"


def test_load_builds_snapshot(defaults, write, modname):
    """load() renders, validates and resolves, recording files and secrets."""
    mod = modname()
    write(f"{mod}.py", "def greet():\n    return 'hi'\n")
    path = write(
        "node.yaml",
        f"""\
        gateway:
          url: {{{{ values.url }}}}
          auth: {{token: "{{{{ secret('TOKEN') }}}}"}}
        commands:
          greet: {mod}:greet
        """,
    )
    values_file = write("environments/dev.yaml", "url: ws://localhost:9\n")
    snapshot = load(path, environment="dev", environ={"TOKEN": SECRET})
    assert snapshot.source == path
    assert snapshot.files == (path, values_file)
    assert snapshot.secrets == frozenset({SECRET})
    assert snapshot.config.gateway.url == "ws://localhost:9"
    assert snapshot.routes.commands["greet"].func() == "hi"
    assert SECRET not in repr(snapshot)


def test_load_stops_at_first_failing_stage(defaults, write):
    """load() raises the problems of the stage that failed."""
    path = write("node.yaml", "commands:\n  x: cfgtest_nowhere:fn\n")
    with pytest.raises(ConfigError) as exc:
        load(path, environ={})
    assert [p.path for p in exc.value.problems] == ["commands.x.handler"]


def test_dump_effective_hides_secrets(defaults, write):
    """The effective YAML shows secrets as ********** wherever they appear."""
    path = write(
        "node.yaml",
        """\
        gateway:
          auth: {token: "{{ secret('TOKEN') }}"}
        node:
          metadata: {note: "uses {{ secret('TOKEN') }} inside"}
        commands:
          list_things: null
        """,
    )
    snapshot = load(path, environ={"TOKEN": SECRET})
    text = dump_effective(snapshot)
    assert SECRET not in text
    data = yaml.safe_load(text)
    assert data["gateway"]["auth"]["token"] == "**********"
    assert data["node"]["metadata"]["note"] == "uses ********** inside"
    assert data["commands"]["list_things"] is None
    assert data["commands"]["run_things"]["timeout"] == "1h"
    assert data["routes"]["workflow_request"]["concurrency"] == 2
    assert data["heartbeat"] == {"interval": "30s", "timeout": "1m"}
    assert data["gateway"]["max_message_size"] == "16MiB"


def test_dump_effective_round_trips(defaults, write, tmp_path):
    """The effective YAML is itself a valid config with the same settings."""
    snapshot = load(write("node.yaml", "heartbeat: {interval: 1h30m}\nretry: {jitter: 0.1}\n"), environ={})
    again = validate(render(write("again.yaml", dump_effective(snapshot)), environ={}))
    assert again.heartbeat == snapshot.config.heartbeat
    assert again.retry == snapshot.config.retry
    assert again.workflows == snapshot.config.workflows


def test_snapshot_from_config(defaults):
    """A config built in code becomes a snapshot without files."""
    snapshot = snapshot_from_config(default_config(gateway={"auth": {"token": "code-token"}}))
    assert snapshot.source is None
    assert snapshot.files == ()
    assert snapshot.secrets == frozenset({"code-token"})
    assert set(snapshot.routes.commands) == {"list_things", "run_things"}
    assert "code-token" not in dump_effective(snapshot)


def test_redact():
    """redact() hides every occurrence, the longest secret first, and ignores empty ones."""
    assert redact("a=abc b=abcdef", ["abc", "abcdef", ""]) == "a=********** b=**********"
    assert redact("nothing", []) == "nothing"


def test_config_schema_is_json_schema():
    """The schema is JSON, covers every section, and every $ref resolves."""
    schema = json.loads(json.dumps(config_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(Config.model_fields) == {
        "gateway", "node", "heartbeat", "retry", "limits", "shutdown",
        "routes", "commands", "storage", "files", "workflows", "engine", "nodes", "models", "providers", "tools",
        "collections", "network", "code", "logging", "observability",
    }  # fmt: skip
    refs = re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(schema))
    assert refs and all(ref in schema["$defs"] for ref in refs)
    interval = schema["$defs"]["HeartbeatConfig"]["properties"]["interval"]
    assert {t["type"] for t in interval["anyOf"]} == {"string", "number"}
    size = schema["$defs"]["GatewayConfig"]["properties"]["max_message_size"]
    assert {t["type"] for t in size["anyOf"]} == {"string", "integer"}
    route = schema["properties"]["commands"]["additionalProperties"]
    assert {t.get("type", "ref") for t in route["anyOf"]} == {"string", "ref", "null"}


def test_shipped_config_validates_without_environment():
    """configs/node.yaml renders and validates with no environment variables."""
    config = validate(render(ROOT / "configs" / "node.yaml", environ={}))
    assert config.gateway.url == "ws://127.0.0.1:8080"
    assert config.gateway.token() is None
    assert config == Config(
        node={"metadata": {"environment": None}},
        workflows={"paths": [ROOT / "configs" / "workflows"]},
    )


def test_shipped_dev_environment():
    """configs/node.yaml --env dev validates with dev's values."""
    config = validate(render(ROOT / "configs" / "node.yaml", environment="dev", environ={}))
    assert config.logging.level == "DEBUG"
    assert config.heartbeat.interval == 10.0


def test_shipped_prod_environment():
    """configs/node.yaml --env prod uses wss, refuses insecure, and requires the token."""
    path = ROOT / "configs" / "node.yaml"
    config = validate(render(path, environment="prod", environ={"GATEWAY_AUTH_TOKEN": "prod-token"}))
    assert config.gateway.url.startswith("wss://")
    assert config.gateway.allow_insecure is False
    assert config.gateway.token() == "prod-token"
    assert config.logging.format == "json"
    with pytest.raises(ConfigError, match="GATEWAY_AUTH_TOKEN_FILE"):
        render(path, environment="prod", environ={})


@pytest.mark.parametrize("environment", [None, "staging"])
def test_environments_example_validates(environment):
    """examples/environments/node.yaml validates with and without --env staging."""
    config = validate(render(ROOT / "examples" / "environments" / "node.yaml", environment=environment, environ={}))
    stage = environment or "local"
    assert config.node.metadata["environment"] == stage
    assert config.node.id.startswith(f"{stage}-")
    if environment == "staging":
        assert config.gateway.url.startswith("wss://")
        assert config.commands == {"list_models": None}
        assert config.node.metadata["region"] == "eu-west-1"
