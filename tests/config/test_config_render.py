"""Rendering the config template: env, values, --set, hostname, secret(), template errors."""

from __future__ import annotations

import socket

import pytest

from nodetool_gateway.config import ConfigError, render, validate

SECRET = "hunter2-Sekr3t&/=+"


def test_env_values_and_defaults(write):
    """The template sees env, with default() working for unset names."""
    path = write("node.yaml", "a: {{ env.A }}\nb: {{ env.B | default('fallback') }}\n")
    rendered = render(path, environ={"A": "from-env"})
    assert rendered.text == "a: from-env\nb: fallback\n"
    assert rendered.files == (path,)


def test_env_defaults_to_process_environment(write, monkeypatch):
    """Without environ, env is os.environ."""
    monkeypatch.setenv("CFGTEST_VAR", "process")
    assert render(write("node.yaml", "{{ env.CFGTEST_VAR }}")).text == "process"


def test_undefined_env_is_an_error_at_its_line(write):
    """An unset env.X without default is reported at its template line."""
    path = write("node.yaml", "gateway:\n  url: \"{{ env.GATEWAY_URL }}\"\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environ={})
    assert str(exc.value) == (
        f"{path}:2:1: (template): 'dict object' has no attribute 'GATEWAY_URL'; "
        "define it, or give a fallback with | default(...)"
    )


def test_undefined_name_line_inside_block(write):
    """An undefined name inside a block is reported at the line that uses it."""
    path = write("node.yaml", "a: 1\n{% if true %}\nb: 2\nc: {{ nope }}\n{% endif %}\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environ={})
    (problem,) = exc.value.problems
    assert (problem.file, problem.line, problem.path) == (str(path), 4, "(template)")
    assert problem.message.startswith("'nope' is undefined")


def test_template_syntax_error_line(write):
    """A template syntax error is reported at its line."""
    path = write("node.yaml", "a: 1\nb: {{ 1 + }}\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environ={})
    assert str(exc.value) == f"{path}:2:1: (template): unexpected 'end of print statement'"


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("env.__class__", "access to attribute '__class__' of 'dict' object is unsafe."),
        ("values.update({'a': 1})", "access to attribute 'update' of 'dict' object is unsafe."),
    ],
)
def test_sandbox_violation_is_a_problem(write, expr, message):
    """Unsafe attribute access and mutation are refused by the sandbox."""
    path = write("node.yaml", f"a: 1\n\nb: {{{{ {expr} }}}}\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environ={})
    assert str(exc.value) == f"{path}:3:1: (template): {message}"


def test_environment_and_values_file(write, tmp_path):
    """--env NAME exposes the name and environments/NAME.yaml as values."""
    path = write("node.yaml", "env: {{ environment }}\nlevel: {{ values.log.level }}\n")
    values_file = write("environments/dev.yaml", "log: {level: DEBUG}\n")
    rendered = render(path, environment="dev", environ={})
    assert rendered.text == "env: dev\nlevel: DEBUG\n"
    assert rendered.values == {"log": {"level": "DEBUG"}}
    assert rendered.files == (path, values_file)


def test_unknown_environment_is_an_error(write):
    """--env NAME without environments/NAME.yaml (a typo, or a config copied without its
    folder) is an error naming the environments there, not the defaults in silence."""
    path = write("node.yaml", "n: {{ values | length }}\nenv: {{ environment }}\n")
    write("environments/prod.yaml", "a: 1\n")
    write("environments/staging.yaml", "a: 2\n")
    with pytest.raises(ConfigError) as caught:
        render(path, environment="prdo", environ={})
    message = str(caught.value.problems[0])
    assert "--env prdo" in message and "prod, staging" in message


def test_empty_values_file_is_empty_values(write):
    """An environment whose values file is empty gives empty values."""
    path = write("node.yaml", "n: {{ values | length }}\nenv: {{ environment }}\n")
    write("environments/qa.yaml", "")
    rendered = render(path, environment="qa", environ={})
    assert rendered.text == "n: 0\nenv: qa\n"


def test_no_environment_is_none(write):
    """Without --env, environment is None and values is empty."""
    assert render(write("node.yaml", "{{ environment }} {{ values }}"), environ={}).text == "None {}"


def test_values_file_yaml_error_names_that_file(write):
    """A syntax error in the values file is reported in that file."""
    path = write("node.yaml", "a: 1\n")
    values_file = write("environments/dev.yaml", "a: 1\n  b: 2\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environment="dev", environ={})
    assert str(exc.value) == f"{values_file}:2:4: (yaml): mapping values are not allowed here"


def test_environment_name_cannot_escape(write):
    """An environment name with a path separator is refused."""
    with pytest.raises(ConfigError) as exc:
        render(write("node.yaml", "a: 1\n"), environment="../etc", environ={})
    assert exc.value.problems[0].path == "(environment)"


def test_sets_override_values_with_yaml_scalars(write):
    """--set applies on top of the values file, parsing scalars and nesting keys."""
    path = write("node.yaml", "x: {{ values | tojson }}\n")
    write("environments/dev.yaml", "log: {level: INFO, format: text}\nkeep: 1\n")
    rendered = render(
        path,
        environment="dev",
        sets=["log.level=DEBUG", "n=3", "on=true", "ratio=0.5", "none=null", "empty=",
              "a.b.c=deep", "list=[1, 2]", "url=ws://h:1/p?x=1"],
        environ={},
    )  # fmt: skip
    assert rendered.values == {
        "log": {"level": "DEBUG", "format": "text"},
        "keep": 1,
        "n": 3,
        "on": True,
        "ratio": 0.5,
        "none": None,
        "empty": "",
        "a": {"b": {"c": "deep"}},
        "list": "[1, 2]",
        "url": "ws://h:1/p?x=1",
    }


def test_malformed_set_is_an_error(write):
    """A --set without '=' is refused without echoing it."""
    with pytest.raises(ConfigError) as exc:
        render(write("node.yaml", "a: 1\n"), sets=["ok=1", "token-without-equals"], environ={})
    assert str(exc.value) == "--set:2:1: (set): expected KEY.PATH=VALUE, e.g. --set region=eu-west-1"
    assert "token-without-equals" not in str(exc.value)


def test_set_through_a_scalar_is_an_error(write):
    """--set a.b=... when a is a scalar is refused."""
    with pytest.raises(ConfigError) as exc:
        render(write("node.yaml", "a: 1\n"), sets=["a=1", "a.b=2"], environ={})
    assert str(exc.value) == "--set:2:1: values.a: is not a mapping, so it cannot hold keys"


def test_set_the_template_never_reads_is_an_error(write):
    """--set gateway.url=... on a template that reads values.gateway_url names what it reads."""
    path = write("node.yaml", "gateway: {url: \"{{ values.gateway_url | default('ws://127.0.0.1:1') }}\"}\n"
                              "region: {{ values.get('region', 'local') }}\n"
                              "{% if values.log.level is defined %}level: {{ values.log.level }}{% endif %}\n")
    with pytest.raises(ConfigError) as exc:
        render(path, sets=["region=eu", "gateway.url=wss://h", "log.level=DEBUG", "log=x"], environ={})
    [problem] = exc.value.problems
    assert (problem.file, problem.line, problem.path) == ("--set", 2, "values.gateway.url")
    assert "never reads values.gateway.url" in problem.message
    assert "did you mean values.gateway_url?" in problem.message
    assert "values.gateway_url, values.log.level, values.region" in problem.message


def test_values_file_key_the_template_never_reads_is_an_error(write):
    """A typo in environments/NAME.yaml is reported at its line, not rendered as the default."""
    path = write("node.yaml", "url: \"{{ values.gateway_url | default('ws://127.0.0.1:1') }}\"\n")
    values_file = write("environments/prod.yaml", "# prod\ngateway_ulr: wss://prod\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environment="prod", environ={})
    [problem] = exc.value.problems
    assert (problem.file, problem.line, problem.path) == (str(values_file), 2, "gateway_ulr")
    assert "did you mean values.gateway_url?" in problem.message


def test_plain_yaml_config_refuses_values(write):
    """A config without template syntax reads no values, so --set on it is an error."""
    with pytest.raises(ConfigError) as exc:
        render(write("node.yaml", "gateway: {url: ws://127.0.0.1:1}\n"), sets=["gateway.url=wss://h"],
               environ={})
    assert "never reads values.gateway.url. It reads no values." in str(exc.value)


def test_values_used_whole_accept_any_key(write):
    """A template that reads values whole (a loop, tojson, values[name]) may read any key."""
    for body in ("{% for k, v in values.items() %}{{ k }}{% endfor %}", "{{ values | tojson }}",
                 "{{ values[env.KEY] }}", "{% set v = values %}{{ v.anything.at.all }}"):
        path = write("node.yaml", body)
        render(path, sets=["anything.at.all=1"], environ={"KEY": "anything"})


def test_hostname(write):
    """The template sees this machine's host name."""
    assert render(write("node.yaml", "{{ hostname }}"), environ={}).text == socket.gethostname()


def test_secret_from_env_stays_out_of_text(write):
    """secret() leaves a marker in the text and the value in Rendered.secrets."""
    path = write("node.yaml", "gateway:\n  auth:\n    token: \"{{ secret('TOKEN') }}\"\n")
    rendered = render(path, environ={"TOKEN": SECRET})
    assert SECRET not in rendered.text
    assert SECRET not in repr(rendered)
    (marker,) = rendered.secrets
    assert rendered.secrets[marker] == SECRET
    assert marker in rendered.text
    assert validate(rendered).gateway.token() == SECRET


def test_secret_from_file(write, tmp_path):
    """secret(NAME) reads the file named by NAME_FILE, without its trailing newline."""
    token_file = write("token.txt", SECRET + "\n")
    path = write("node.yaml", "gateway: {auth: {token: \"{{ secret('TOKEN') }}\"}}\n")
    rendered = render(path, environ={"TOKEN_FILE": str(token_file)})
    assert list(rendered.secrets.values()) == [SECRET]
    assert SECRET not in rendered.text


def test_secret_env_wins_over_file(write):
    """NAME is used before NAME_FILE."""
    path = write("node.yaml", "{{ secret('T') }}")
    rendered = render(path, environ={"T": "direct", "T_FILE": "/nonexistent"})
    assert list(rendered.secrets.values()) == ["direct"]


def test_secret_default_and_empty(write):
    """A default is used when unset; an empty value counts as given; empty token means none."""
    path = write("node.yaml", "gateway: {auth: {token: \"{{ secret('T', default='') }}\"}}\n")
    assert validate(render(path, environ={})).gateway.token() is None
    assert validate(render(path, environ={"T": ""})).gateway.token() is None
    path = write("other.yaml", "x: \"{{ secret('T', default='dflt') }}\"\n")
    assert list(render(path, environ={"T": ""}).secrets.values()) == [""]
    assert list(render(path, environ={}).secrets.values()) == ["dflt"]


def test_missing_secret_names_it(write):
    """An unset secret without default is an error naming NAME and NAME_FILE, at its line."""
    path = write("node.yaml", "a: 1\nb: \"{{ secret('NODE_TOKEN') }}\"\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environ={})
    assert str(exc.value) == (
        f"{path}:2:1: (template): secret 'NODE_TOKEN' is not set: set the environment variable "
        "NODE_TOKEN, or NODE_TOKEN_FILE to a file that holds it, or give secret() a default"
    )


def test_unreadable_secret_file(write, tmp_path):
    """A NAME_FILE that cannot be read is an error naming it."""
    path = write("node.yaml", "{{ secret('T') }}")
    with pytest.raises(ConfigError) as exc:
        render(path, environ={"T_FILE": str(tmp_path / "missing")})
    assert "cannot read T_FILE" in str(exc.value)


def test_secret_not_in_template_error(write):
    """A template error about a secret's marker does not show the secret."""
    path = write("node.yaml", "a: {{ values[secret('T')] }}\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environ={"T": SECRET})
    assert SECRET not in str(exc.value)
    assert exc.value.problems[0].line == 1


def test_each_secret_call_has_its_own_marker(write):
    """Two calls for the same value get two markers, so markers say nothing about values."""
    path = write("n.yaml", "same: {{ secret('A') == secret('A') }}\n"
                           "guess: {{ secret('A') == secret('NOPE', default='x') }}\n"
                           "both: [{{ secret('A') }}, {{ secret('A') }}]\n")
    rendered = render(path, environ={"A": "x"})
    assert "same: False" in rendered.text and "guess: False" in rendered.text
    assert len(rendered.secrets) == 6 and set(rendered.secrets.values()) == {"x"}


def test_missing_config_file(tmp_path):
    """A config file that does not exist is a problem naming it."""
    with pytest.raises(ConfigError) as exc:
        render(tmp_path / "nope.yaml", environ={})
    assert str(exc.value) == f"{tmp_path / 'nope.yaml'}:1:1: (file): cannot read the config file: No such file or directory"


def test_runtime_error_in_template(write):
    """An exception raised while rendering is reported with its type, at its line."""
    path = write("node.yaml", "a: 1\nb: 2\nc: {{ 1 / 0 }}\n")
    with pytest.raises(ConfigError) as exc:
        render(path, environ={})
    assert str(exc.value) == f"{path}:3:1: (template): ZeroDivisionError: division by zero"
