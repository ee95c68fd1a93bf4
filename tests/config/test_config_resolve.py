"""Resolving routes: defaults merged with the config, handlers imported, problems at their line."""

from __future__ import annotations

import pytest

from nodetool_gateway.config import ConfigError, default_config, render, resolve, validate


def config_at(path):
    return validate(render(path, environ={}))


def test_defaults_resolve(defaults):
    """With no routes in the config, the built-in routes are used, with their timeouts."""
    table = resolve(default_config())
    assert set(table.commands) == {"list_things", "run_things"}
    assert set(table.messages) == {"workflow_request"}
    run = table.commands["run_things"]
    assert (run.name, run.kind, run.target, run.timeout, run.concurrency, run.source) == (
        "run_things", "command", f"{defaults}:run_things", 3600.0, 4, "default")  # fmt: skip
    assert run.func.__name__ == "run_things"
    assert table.messages["workflow_request"].kind == "message"
    assert table.disabled == frozenset()


def test_override_add_and_disable(defaults, write, modname):
    """Config entries replace whole default routes, add new ones, and null disables."""
    mod = modname()
    write(f"{mod}.py", "def greet(name='you'):\n    return f'hi {name}'\n\nasync def run(**kw):\n    return kw\n")
    path = write(
        "node.yaml",
        f"""\
        limits: {{default_timeout: 2m}}
        commands:
          greet: {mod}:greet
          run_things: {{handler: "{mod}:run", concurrency: 1}}
          list_things: null
        routes:
          workflow_request: {{handler: "{mod}:run", timeout: 5s}}
        """,
    )
    table = resolve(config_at(path))
    assert set(table.commands) == {"greet", "run_things"}
    greet = table.commands["greet"]
    assert (greet.target, greet.timeout, greet.concurrency, greet.source) == (f"{mod}:greet", 120.0, None, f"{path}:3")
    assert greet.func() == "hi you"
    # The override replaces the whole route: the default's 1h timeout does not carry over.
    run = table.commands["run_things"]
    assert (run.target, run.timeout, run.concurrency, run.source) == (f"{mod}:run", 120.0, 1, f"{path}:4")
    wf = table.messages["workflow_request"]
    assert (wf.timeout, wf.concurrency, wf.source) == (5.0, None, f"{path}:7")
    assert table.disabled == frozenset({"list_things"})


def test_handlers_beside_config_importable(defaults, tmp_path, modname):
    """A module beside the config file can be named without a package."""
    mod = modname()
    sub = tmp_path / "node_dir"
    sub.mkdir()
    (sub / f"{mod}.py").write_text("def hello():\n    return 'hello'\n")
    (sub / "node.yaml").write_text(f"commands:\n  hello: {mod}:hello\n")
    assert resolve(config_at(sub / "node.yaml")).commands["hello"].func() == "hello"


@pytest.mark.parametrize("shadowed", ["colorsys", "yaml", "markupsafe"])
def test_a_module_beside_the_config_cannot_replace_a_real_one(
        defaults, tmp_path, modname, monkeypatch, shadowed):
    """The config's folder goes last on sys.path: a colorsys.py (standard library) or a
    yaml.py (installed package) beside node.yaml neither replaces the real module nor
    breaks the handlers there."""
    import importlib
    import sys

    mod = modname()
    sub = tmp_path / "shadowing"
    sub.mkdir()
    (sub / f"{shadowed}.py").write_text("raise RuntimeError('the config folder shadowed it')\n")
    (sub / f"{mod}.py").write_text(
        f"import {shadowed}\n\ndef where():\n    return {shadowed}.__file__\n")
    (sub / "node.yaml").write_text(f"commands:\n  where: {mod}:where\n")
    monkeypatch.delitem(sys.modules, shadowed, raising=False)
    route = resolve(config_at(sub / "node.yaml")).commands["where"]
    assert not route.func().startswith(str(sub))
    assert not importlib.import_module(shadowed).__file__.startswith(str(sub))


def test_every_bad_handler_reported(defaults, write, modname):
    """A missing module, a missing attribute, a non-callable and a broken module are all reported at their lines."""
    mod, broken = modname(), modname()
    write(f"{mod}.py", "def ok():\n    pass\n\nVALUE = 3\n")
    write(f"{broken}.py", "raise RuntimeError('cannot start')\n")
    path = write(
        "node.yaml",
        f"""\
        commands:
          fine: {mod}:ok
          gone: cfgtest_no_such_module:fn
          typo: {mod}:okk
        routes:
          value: {{handler: "{mod}:VALUE"}}
          crash: {broken}:fn
        """,
    )
    with pytest.raises(ConfigError) as exc:
        resolve(config_at(path))
    assert [str(p) for p in exc.value.problems] == [
        f"{path}:3:3: commands.gone.handler: no module named 'cfgtest_no_such_module'; "
        "check the spelling, install it, or put it beside the config file",
        f"{path}:4:3: commands.typo.handler: module '{mod}' has no attribute 'okk'; check the name after the colon",
        f"{path}:6:3: routes.value.handler: '{mod}:VALUE' is not callable (it is 'int'); point it at a function",
        f"{path}:7:3: routes.crash.handler: importing module '{broken}' failed: RuntimeError: cannot start",
    ]


def test_missing_dotted_attribute(defaults, write, modname):
    """A dotted attribute path is followed; a missing part is reported."""
    mod = modname()
    write(f"{mod}.py", "class Handlers:\n    @staticmethod\n    def go():\n        return 1\n")
    path = write("node.yaml", f"commands:\n  go: {mod}:Handlers.go\n  stop: {mod}:Handlers.stop\n")
    with pytest.raises(ConfigError) as exc:
        resolve(config_at(path))
    assert [p.path for p in exc.value.problems] == ["commands.stop.handler"]
    assert "has no attribute 'Handlers.stop'" in exc.value.problems[0].message


def test_bad_default_handler_reported(defaults, write, monkeypatch):
    """A built-in route that cannot be imported is reported with how to disable it."""
    from nodetool_gateway.handlers import builtin

    monkeypatch.setitem(builtin.DEFAULT_COMMANDS, "broken", {"handler": "cfgtest_missing_builtin:fn"})
    path = write("node.yaml", "logging: {level: INFO}\ncommands: {}\n")
    with pytest.raises(ConfigError) as exc:
        resolve(config_at(path))
    (problem,) = exc.value.problems
    assert (problem.file, problem.line, problem.col, problem.path) == (str(path), 2, 1, "commands.broken.handler")
    assert "cfgtest_missing_builtin" in problem.message
    assert "set commands.broken: null" in problem.message
    # Disabling it resolves.
    path = write("node2.yaml", "commands: {broken: null}\n")
    assert "broken" in resolve(config_at(path)).disabled


def test_resolve_without_positions(defaults, modname, write, tmp_path):
    """A config built in code resolves with source 'config'."""
    mod = modname()
    write(f"{mod}.py", "def f():\n    pass\n")
    table = resolve(default_config(commands={"f": f"{mod}:f"}), base_dir=tmp_path)
    assert table.commands["f"].source == "config"
    assert table.commands["list_things"].source == "default"


def test_route_table_is_read_only(defaults):
    """The resolved tables cannot be changed."""
    table = resolve(default_config())
    with pytest.raises(TypeError):
        table.commands["x"] = table.commands["list_things"]  # type: ignore[index]


def test_resolve_without_imports_runs_no_user_code(defaults, write, modname, tmp_path):
    """imports=False builds the table from the strings alone: nothing is imported."""
    import sys

    mod = modname()
    marker = tmp_path / "imported"
    write(f"{mod}.py", f"open({str(marker)!r}, 'w').close()\nraise RuntimeError('import-time')\n"
                       "def greet():\n    return 1\n")
    path = write("sub/node.yaml", f"commands:\n  greet: {mod}:greet\n")
    path_before = list(sys.path)
    table = resolve(config_at(path), imports=False)
    greet = table.commands["greet"]
    assert (greet.target, greet.func, greet.source) == (f"{mod}:greet", None, f"{path}:2")
    assert not marker.exists() and mod not in sys.modules
    assert sys.path == path_before
    with pytest.raises(ConfigError, match="import-time"):
        resolve(config_at(path))
    assert marker.exists()


def test_a_module_that_does_not_import_is_reported_once(defaults, write, modname):
    """A handler module with a syntax error is one problem at its first route, not one per route."""
    mod = modname()
    write(f"{mod}.py", "def a(:\n    pass\n")
    path = write("node.yaml", f"commands:\n  a: {mod}:a\n  b: {mod}:b\n  c: {mod}:c\n")
    with pytest.raises(ConfigError) as exc:
        resolve(config_at(path))
    [problem] = exc.value.problems
    assert (problem.line, problem.path) == (2, "commands.a.handler")
    assert "SyntaxError" in problem.message and "(and 2 more routes using it)" in problem.message
