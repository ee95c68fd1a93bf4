"""``nodetool-gateway init [DIR]``: a new node's folder, ready to validate and run.

The files come from ``init_template/`` (package data) and one bundled workflow;
nothing is rendered at init time, so what lands on disk is what the package ships.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import click

__all__ = ["EXIT_EXISTS", "init", "plan", "scaffold"]

# Refusing to overwrite is a usage problem, not a config one: exit 1, as `cli` does
# for any failure that is neither a bad config (78) nor an unreachable gateway (69).
EXIT_EXISTS = 1

# The bundled workflow copied into workflows/: small, core node types only.
WORKFLOW = ("Temperature Table.json", "workflows/temperature-table.json")
_TEMPLATE_SUFFIX = ".tmpl"  # handlers.py ships as handlers.py.tmpl: data, not a module


def _template_files(root, prefix: str = "") -> Iterator[tuple[str, object]]:
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(("__", ".")):
            continue
        if entry.is_dir():
            yield from _template_files(entry, f"{prefix}{entry.name}/")
        else:
            name = entry.name.removesuffix(_TEMPLATE_SUFFIX)
            yield f"{prefix}{name}", entry


def plan() -> dict[str, bytes]:
    """Each file ``init`` writes (a path relative to DIR) and its content."""
    package = resources.files("nodetool_gateway")
    files = {name: entry.read_bytes()
             for name, entry in _template_files(package / "init_template")}
    source, target = WORKFLOW
    files[target] = (package / "bundled_workflows" / source).read_bytes()
    return files


def scaffold(directory: Path, *, force: bool = False) -> list[Path]:
    """Write :func:`plan` into ``directory``; return the files written.

    Raises :class:`FileExistsError` listing the files that exist, unless ``force``.
    """
    files = plan()
    existing = [directory / name for name in files if (directory / name).exists()]
    if existing and not force:
        raise FileExistsError(existing)
    written = []
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(directory: str, force: bool) -> None:
    """Create a node in DIRECTORY: node.yaml, environments/, handlers.py, workflows/.

    Refuses to overwrite a file that exists (exit 1, listing them) unless --force.
    """
    from .cli import _Failure

    root = Path(directory)
    try:
        written = scaffold(root, force=force)
    except FileExistsError as exc:
        names = ", ".join(str(p) for p in exc.args[0])
        raise _Failure(f"not overwriting {names}: pass --force to replace them",
                       EXIT_EXISTS) from None
    except OSError as exc:
        raise _Failure(f"cannot write in {root}: {exc.strerror or exc}") from None
    for path in written:
        click.echo(f"wrote {path}")
    config = root / "node.yaml"
    click.echo("\n".join([
        "next:",
        f"  nodetool-gateway validate {config} --env dev",
        "  nodetool-gateway serve --insecure-no-auth &      # a local gateway, for dev",
        f"  nodetool-gateway run {config} --env dev",
        "  nodetool-gateway call hello --args '{\"name\": \"Ada\"}'",
        f"  GATEWAY_AUTH_TOKEN=... nodetool-gateway run {config} --env prod",
        f"  nodetool-gateway service install {config} --env prod   # as a systemd user service",
    ]))
