"""The library as a whole: NodeTool's type names, unique, described, and all tested."""

import importlib
import inspect
from pathlib import Path

from nodetool_gateway.engine.library import MODULES
from nodetool_gateway.engine.node import BaseNode


def node_classes() -> list[type[BaseNode]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, BaseNode) and obj.__module__ == module.__name__ \
                    and not obj.abstract:
                found.append(obj)
    return found


def all_names() -> dict[str, type[BaseNode]]:
    names: dict[str, type[BaseNode]] = {}
    for cls in node_classes():
        for name in (cls.node_type, *cls.aliases):
            assert name not in names, f"{name} registered twice"
            names[name] = cls
    return names


# Every core type the 73 nodetool-base examples use (nodetool-graph.md), plus those the brief names.
REQUIRED = """
nodetool.input.StringInput nodetool.input.IntegerInput nodetool.input.FloatInput nodetool.input.BooleanInput
nodetool.output.Output nodetool.output.StringOutput nodetool.output.IntegerOutput nodetool.output.FloatOutput
nodetool.output.BooleanOutput nodetool.output.ListOutput nodetool.output.DictionaryOutput
nodetool.output.DataframeOutput
nodetool.constant.String nodetool.constant.Integer nodetool.constant.Float nodetool.constant.Bool
nodetool.constant.List nodetool.constant.Dict
nodetool.text.FormatText nodetool.text.Template nodetool.text.Concat nodetool.text.Join nodetool.text.Split
nodetool.text.Replace
nodetool.boolean.Compare nodetool.boolean.LogicalOperator nodetool.boolean.ConditionalSwitch
nodetool.boolean.Not nodetool.boolean.IsNone nodetool.boolean.IsIn nodetool.boolean.All nodetool.boolean.Some
lib.math.Add lib.math.Subtract lib.math.Multiply lib.math.Divide lib.math.Modulus lib.math.Power lib.math.Sqrt
nodetool.math.Add nodetool.math.Subtract nodetool.math.Multiply nodetool.math.Divide nodetool.math.Modulus
nodetool.math.Power nodetool.math.Sqrt
nodetool.list.FilterDicts nodetool.list.MapField nodetool.list.Sort nodetool.list.Slice nodetool.list.Length
nodetool.list.FilterDictsByNumber nodetool.list.Dedupe
nodetool.dictionary.GetValue nodetool.dictionary.MakeDictionary nodetool.dictionary.Combine
nodetool.dictionary.ParseJSON nodetool.dictionary.Filter nodetool.dictionary.Update nodetool.dictionary.Remove
nodetool.dictionary.Zip nodetool.dictionary.ReduceDictionaries nodetool.dictionary.ArgMax
lib.json.ParseList lib.json.ParseDict lib.json.StringifyJSON lib.json.ValidateJSON
nodetool.json.ParseList nodetool.json.ParseDict nodetool.json.StringifyJSON nodetool.json.ValidateJSON
nodetool.json.GetJSONPathStr lib.json.GetJSONPathStr lib.json.FilterJSON lib.json.JSONTemplate
nodetool.control.ForEach nodetool.control.Collect nodetool.control.If
nodetool.code.EvaluateExpression
nodetool.workflows.base_node.Preview nodetool.workflows.base_node.Comment nodetool.workflows.base_node.Group
""".split()


DYNAMIC_OUTPUTS_ONLY = {"Extractor", "ResearchAgent", "StructuredOutputGenerator"}


def test_required_nodetool_names_are_registered():
    """Registers every NodeTool type name the examples and the brief rely on."""
    names = all_names()
    missing = [n for n in REQUIRED if n not in names]
    assert not missing, missing


def test_names_are_unique_and_in_module_namespaces():
    """Gives each type one unique name, in its module's namespace (or an explicit older one)."""
    names = all_names()
    assert len(names) > 150
    for cls in node_classes():
        module = importlib.import_module(cls.__module__)
        # A module grouping one concern across namespaces (files) lists them in NAMESPACES.
        spaces = getattr(module, "NAMESPACES", (module.NAMESPACE,))
        assert any(cls.node_type.startswith(ns + ".") for ns in spaces) or \
            cls.node_type.startswith("nodetool.math."), cls.node_type


def test_every_type_has_a_description_and_outputs():
    """Describes every type and names its outputs."""
    for cls in node_classes():
        assert cls.node_description.strip(), cls.node_type
        # Extractor and its kind have only the outputs a workflow declares.
        assert cls.output_types or cls.__name__ in DYNAMIC_OUTPUTS_ONLY, cls.node_type
        assert cls.compute_mode in ("process", "gen_process", "run")


def test_no_field_shadows_a_node_class_attribute():
    """Keeps property names clear of BaseNode's class attributes."""
    reserved = {"node_type", "node_namespace", "node_title", "node_description", "aliases",
                "is_dynamic", "compute_mode", "output_types", "streaming_output", "abstract"}
    for cls in node_classes():
        clash = reserved & set(cls.properties())
        assert not clash, (cls.node_type, clash)
        assert cls.compute_mode in ("process", "gen_process", "run")


def test_every_type_is_exercised_by_a_test():
    """Mentions every node class in at least one test module of this folder."""
    here = Path(__file__).parent
    tests = [*here.glob("test_*.py"), *(here.parent / "llm").glob("test_*.py"),
             *(here.parent / "web").glob("test_*.py")]
    source = "\n".join(p.read_text() for p in tests if p.name != Path(__file__).name)
    untested = [cls.__name__ for cls in node_classes() if f".{cls.__name__}" not in source]
    assert not untested, untested


def test_dynamic_types():
    """Marks FormatText, Template, MakeDictionary and ExecutePython as dynamic and nothing else."""
    dynamic = {cls.node_type for cls in node_classes() if cls.is_dynamic}
    assert dynamic == {"nodetool.text.FormatText", "nodetool.text.Template",
                       "nodetool.dictionary.MakeDictionary", "nodetool.code.ExecutePython"}
