"""What ships: the licence, the project metadata, the package data and the Dockerfile."""

from __future__ import annotations

import email
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_licence_is_apache_2_in_full():
    """LICENSE holds the Apache License 2.0, the whole text as apache.org publishes it."""
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.md5(text).hexdigest() == "3b83ef96387f14655fc854ddc3c6bd57"


def test_pyproject_declares_the_licence_and_where_to_find_the_project():
    """pyproject.toml has the SPDX licence, authors, classifiers and URLs."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert project["authors"] == [{"name": "nodetool-gateway contributors"}]
    classifiers = set(project["classifiers"])
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert {"Operating System :: POSIX :: Linux", "Framework :: AsyncIO",
            "Development Status :: 3 - Alpha"} <= classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # PEP 639: the expression
    assert set(project["urls"]) == {"Homepage", "Source", "Issues", "Documentation"}


def test_the_installed_metadata_carries_the_licence_expression():
    """The installed distribution's metadata says Apache-2.0 and names LICENSE."""
    meta = importlib.metadata.metadata("nodetool-gateway")
    assert meta["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in meta.get_all("License-File")


def test_the_wheel_ships_the_templates_workflows_and_licence(tmp_path):
    """A wheel built from the tree holds init's templates, the bundled workflows and LICENSE,
    with valid metadata."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "--wheel-dir", str(tmp_path / "dist"), str(tree)],
                           capture_output=True, text=True, check=False, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("nodetool_gateway-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(zf.read(metadata))
    for name in ("init_template/node.yaml", "init_template/handlers.py.tmpl",
                 "init_template/environments/dev.yaml", "init_template/environments/prod.yaml",
                 "bundled_workflows/Temperature Table.json", "py.typed"):
        assert f"nodetool_gateway/{name}" in names, name
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert meta["License-Expression"] == "Apache-2.0"
    assert float(meta["Metadata-Version"]) >= 2.4
    assert "Documentation, https://github.com/nodetool-ai/nodetool-gateway#readme" in \
        meta.get_all("Project-URL")


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continued lines joined."""
    instructions = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, rest = whole.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "the last instruction ends with a backslash"
    return instructions


def test_the_dockerfile_runs_the_console_script_as_a_non_root_user():
    """The image's last stage runs `nodetool-gateway run /config/node.yaml` as uid 10001,
    with storage on a volume and SIGTERM to stop."""
    instructions = dockerfile_instructions((ROOT / "Dockerfile").read_text())
    stages = [i for i, (k, _) in enumerate(instructions) if k == "FROM"]
    final = instructions[stages[-1]:]
    base = final[0][1]
    assert base.split()[0] in {"python:3.11-slim", "python:3.12-slim", "python:3.13-slim"}
    settings = {}
    for keyword, args in final:
        settings.setdefault(keyword, []).append(args)
    (user,) = settings["USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000  # numeric: Kubernetes' runAsNonRoot can check it
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert json.loads(settings["ENTRYPOINT"][-1]) == ["nodetool-gateway"]
    assert "nodetool-gateway" in scripts
    assert json.loads(settings["CMD"][-1]) == ["run", "/config/node.yaml"]
    assert settings["STOPSIGNAL"] == ["SIGTERM"]
    assert "/data" in json.loads(settings["VOLUME"][-1])
    # USER comes after every RUN: nothing the node runs as is root.
    last_run = max(i for i, (k, _) in enumerate(final) if k == "RUN")
    assert last_run < next(i for i, (k, _) in enumerate(final) if k == "USER")
    # The install is a wheel, not an editable checkout.
    assert not any("-e " in args or "--editable" in args for k, args in instructions if k == "RUN")
    # Everything the build stage copies exists and is let through .dockerignore.
    allowed = (ROOT / ".dockerignore").read_text()
    for keyword, args in instructions:
        if keyword == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
                assert f"!{source.rstrip('/')}" in allowed.replace("/\n", "\n"), source
