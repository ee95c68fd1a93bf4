"""The node registry: registering, aliases, listing, search ranking, descriptions, sources."""

from __future__ import annotations

import enum
import sys
import textwrap
from typing import Any, Literal

import pytest
from pydantic import Field

from nodetool_gateway.engine import BaseNode, ModuleSource, NodeRegistry, default_registry
from nodetool_gateway.engine.library._deprecated import DEPRECATED, REMOVED_IN

from . import nodes as t


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


class Described(BaseNode):
    """Does many things.
    Second line."""

    node_type = "demo.Described"
    text: str = Field(default="hi", description="Some text.")
    count: int = 3
    items: list[dict] = Field(default_factory=lambda: [{"a": 1}])
    pair: tuple[int, int] = (1, 2)
    speed: Mode = Mode.FAST
    op: Literal["==", "!="] = "=="
    maybe: str | None = None
    anything: Any = ()
    needed: float

    async def process(self, context: Any) -> dict[str, Any]:
        return {}


def fresh() -> NodeRegistry:
    return t.registry()


def test_registers_and_resolves_names_and_aliases():
    """A registered class is found by its type and by each alias."""
    reg = fresh()
    assert reg.get("nodetool.output.Output") is t.Out
    assert reg.get("nodetool.output.StringOutput") is t.Out
    assert "nodetool.output.StringOutput" in reg and t.Out in reg
    assert reg.get("test.Nope") is None and "test.Nope" not in reg
    assert len(reg) == len(t.ALL)
    assert list(reg) == sorted(t.ALL, key=lambda c: c.node_type)


def test_wraps_a_function_with_node():
    """Registering a plain function makes a node type from it."""
    reg = NodeRegistry()

    def Halve(x: float = 2) -> float:
        """Half of x."""
        return x / 2

    cls = reg.register(Halve)
    assert issubclass(cls, BaseNode)
    assert reg.get(cls.node_type) is cls and cls.node_type.endswith(".Halve")
    assert reg.describe(cls)["properties"][0]["name"] == "x"


def test_refuses_duplicates_unless_replacing():
    """A second class under a taken name is refused; replace=True swaps it, aliases too."""
    reg = fresh()
    reg.register(t.Out)  # the same class again is fine

    class Out2(BaseNode):
        node_type = "nodetool.output.Output"
        aliases = ("nodetool.output.Other",)
        value: Any = None

    with pytest.raises(ValueError, match="already registered by .*nodes.Out; pass replace=True"):
        reg.register(Out2)
    assert reg.get("nodetool.output.Output") is t.Out
    reg.register(Out2, replace=True)
    assert reg.get("nodetool.output.Output") is Out2
    assert reg.get("nodetool.output.Other") is Out2
    assert reg.get("nodetool.output.StringOutput") is None  # the old class's alias went with it
    assert t.Out not in reg and len(reg) == len(t.ALL)


def test_refuses_abstract_classes_and_non_nodes():
    """Abstract classes and things that are not node types cannot be registered."""
    class Base(BaseNode):
        abstract = True

    reg = NodeRegistry()
    with pytest.raises(ValueError, match="abstract"):
        reg.register(Base)
    with pytest.raises(TypeError):
        reg.register(int)
    with pytest.raises(TypeError):
        reg.register(42)


def test_lists_by_dotted_namespace_prefix():
    """list() matches whole namespace segments, sorts by type and honours limit."""
    reg = fresh()
    outputs = reg.list("nodetool.output")
    assert [c.node_type for c in outputs] == ["nodetool.output.Output", "nodetool.output.UpperOutput"]
    assert [c.node_type for c in reg.list("nodetool")] == sorted(
        c.node_type for c in t.ALL if c.node_type.startswith("nodetool."))
    assert reg.list("nodetool.out") == []
    assert reg.list("test.fn") == [t.Mul]
    assert len(reg.list(limit=3)) == 3 and len(reg.list()) == len(t.ALL)


def test_ranks_search_results_name_then_title_then_description():
    """search() ranks class-name hits above title hits above description hits; ties by type."""
    reg = NodeRegistry()

    class Alpha(BaseNode):
        """Mentions widget here."""
        node_type = "r.Alpha"

    class Beta(BaseNode):
        """Nothing relevant."""
        node_type = "r.Beta"
        node_title = "Widget Maker"

    class WidgetTool(BaseNode):
        """Plain."""
        node_type = "r.WidgetTool"
        node_title = "Tool"

    class Widget(BaseNode):
        """Plain."""
        node_type = "r.Widget"
        node_title = "Thing"

    class AnotherWidget(BaseNode):
        """Plain."""
        node_type = "q.AnotherWidget"
        node_title = "Other"

    for cls in (Alpha, Beta, WidgetTool, Widget, AnotherWidget):
        reg.register(cls)
    found = [c.node_type for c in reg.search("WIDGET")]
    assert found == ["r.Widget", "q.AnotherWidget", "r.WidgetTool", "r.Beta", "r.Alpha"]
    assert [c.node_type for c in reg.search(["widget"], n_results=2)] == found[:2]
    assert reg.search("zebra") == [] and reg.search("  ") == []
    assert [c.node_type for c in reg.search("q")][0] == "q.AnotherWidget"  # namespace hit


def test_describes_a_node_type_in_json_safe_terms():
    """describe() gives readable types, JSON-safe defaults, outputs and flags."""
    reg = NodeRegistry()
    reg.register(Described)
    info = reg.describe("demo.Described")
    assert (info["node_type"], info["title"], info["namespace"]) == ("demo.Described", "Described", "demo")
    assert info["description"] == "Does many things.\nSecond line."
    props = {p["name"]: p for p in info["properties"]}
    assert list(props) == ["text", "count", "items", "pair", "speed", "op", "maybe", "anything", "needed"]
    assert props["text"] == {"name": "text", "type": "str", "default": "hi",
                             "description": "Some text.", "required": False}
    assert (props["count"]["type"], props["count"]["default"]) == ("int", 3)
    assert (props["items"]["type"], props["items"]["default"]) == ("list[dict]", [{"a": 1}])
    assert (props["pair"]["type"], props["pair"]["default"]) == ("tuple[int, int]", [1, 2])
    assert (props["speed"]["type"], props["speed"]["default"]) == ("Mode", "fast")
    assert props["op"]["type"] == "literal['==', '!=']"
    assert props["maybe"]["type"] == "str | none"
    assert (props["anything"]["type"], props["anything"]["default"]) == ("any", [])
    assert props["needed"]["required"] is True and props["needed"]["default"] is None
    assert info["outputs"] == [{"name": "output", "type": "dict[str, any]"}]
    assert info["is_dynamic"] is False and info["is_streaming"] is False
    streaming = reg.describe(t.Count)
    assert streaming["is_streaming"] is True
    assert streaming["outputs"] == [{"name": "output", "type": "int"}, {"name": "index", "type": "int"}]
    assert reg.describe(t.Format)["is_dynamic"] is True
    with pytest.raises(KeyError, match="test.Nope"):
        reg.describe("test.Nope")


def test_marks_deprecated_types_by_class():
    """A deprecated type says why, by any of its names; a type that replaces it is not deprecated."""
    reg = fresh()
    reg.deprecate("nodetool.output.StringOutput", "gone; use X")
    assert reg.deprecation("nodetool.output.Output") == reg.deprecation(t.Out) == "gone; use X"
    info = reg.describe(t.Out)
    assert info["deprecated"] is True and info["deprecation"] == "gone; use X"
    assert reg.deprecation(t.Count) is None and reg.describe(t.Count)["deprecated"] is False
    assert "deprecation" not in reg.describe(t.Count) and reg.deprecation("test.Nope") is None
    with pytest.raises(KeyError, match="test.Nope"):
        reg.deprecate("test.Nope", "x")

    class Out2(BaseNode):
        node_type = "nodetool.output.Output"
        value: Any = None

    reg.register(Out2, replace=True)
    assert reg.deprecation("nodetool.output.Output") is None


def test_default_registry_marks_the_types_nodetool_removed():
    """The library's removed types are deprecated with a note; current ones are not."""
    reg = default_registry()
    assert all(name in reg for name in DEPRECATED)
    assert reg.deprecation("lib.pymupdf.ExtractText") == (
        f"removed in NodeTool's TypeScript runtime ({REMOVED_IN}); use lib.pdf.ExtractText")
    assert reg.deprecation("lib.http.JSONGetRequest").endswith("use lib.http.GetJSON")
    assert reg.deprecation("nodetool.control.ForEach") is None
    assert reg.deprecation("nodetool.list.Append") is None
    assert sum(reg.deprecation(c) is not None for c in reg) == len(DEPRECATED)


def write_module(tmp_path, monkeypatch, name: str, body: str) -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def test_loads_the_node_types_a_module_defines(tmp_path, monkeypatch):
    """load_module registers concrete types defined in the module, not imported or abstract ones."""
    name = write_module(tmp_path, monkeypatch, "my_engine_nodes", """
        from typing import Any
        from nodetool_gateway.engine import BaseNode, node
        from tests.engine.nodes import Const  # imported: not this module's

        NAMESPACE = "mine"

        class Base(BaseNode):
            abstract = True

        class Double(Base):
            x: float = 0
            async def process(self, context: Any) -> float:
                return self.x * 2

        @node
        def Triple(x: float = 0) -> float:
            return x * 3
    """)
    reg = NodeRegistry()
    assert reg.load_module(name) == 2
    assert sorted(c.node_type for c in reg) == ["mine.Double", "mine.Triple"]
    assert reg.load_module(name) == 2 and len(reg) == 2  # loading again changes nothing
    with pytest.raises(ModuleNotFoundError):
        reg.load_module("no_such_engine_module")


def test_reports_a_module_that_fails_to_import(tmp_path, monkeypatch):
    """A module raising on import gives an ImportError naming it."""
    name = write_module(tmp_path, monkeypatch, "broken_engine_nodes", "raise RuntimeError('bad')\n")
    with pytest.raises(ImportError, match="broken_engine_nodes.*RuntimeError: bad"):
        NodeRegistry().load_module(name)


def test_keeps_the_provenance_of_sources(tmp_path, monkeypatch):
    """add_source loads from any object with name and load() and records (name, count)."""
    class Fixed:
        name = "fixed"

        def load(self, registry: NodeRegistry) -> int:
            registry.register(t.Const)
            registry.register(t.Add)
            return 2

    name = write_module(tmp_path, monkeypatch, "other_engine_nodes", """
        from typing import Any
        from nodetool_gateway.engine import BaseNode
        class Solo(BaseNode):
            node_type = "other.Solo"
    """)
    reg = NodeRegistry()
    assert reg.add_source(Fixed()) == 2
    assert reg.add_source(ModuleSource("config", [name, "absent_engine_mod"], skip_missing=True)) == 1
    assert reg.sources == [("fixed", 2), ("config", 1)]
    with pytest.raises(ModuleNotFoundError):
        reg.add_source(ModuleSource("strict", ["absent_engine_mod"]))


def test_builds_default_registries_cheaply_and_independently():
    """default_registry() returns a fresh registry each time (its cost: benchmarks/)."""
    first = default_registry()
    second = default_registry()
    assert first is not second and len(first) == len(second)
    assert second.sources == [("library", len(second))]
    second.register(t.Const)
    assert "test.Const" not in first


def test_loading_the_node_types_imports_no_parsing_or_table_library():
    """The node and each worker load every node type at start; the libraries behind the
    HTML, PDF, table and HTTP types (about 0.1 s each) are imported when a run uses them."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from nodetool_gateway.engine.registry import default_registry\n"
            "default_registry()\n"
            "print(sorted(m for m in ('bs4', 'markdownify', 'pandas', 'pypdf', 'httpx')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
