"""nodetool.text: FormatText with NodeTool's quirks, and every other text node."""

import time

import pytest

from nodetool_gateway.engine.library import text as T
from nodetool_gateway.engine.library.text import jsonpath_find

from .conftest import gen, run_node


async def fmt(template: str, **props) -> str:
    return await T.FormatText(template=template, dynamic_properties=props).process(None)


async def test_format_text_basic(ctx):
    """Renders {{ name }} from a dynamic property."""
    node = T.FormatText(template="Hello, {{ name }}!", dynamic_properties={"name": "Ada"})
    assert await node.process(ctx) == "Hello, Ada!"
    assert T.FormatText.is_dynamic and T.FormatText.node_type == "nodetool.text.FormatText"


async def test_format_text_defaults():
    """Renders an empty template to an empty string by default."""
    assert await T.FormatText().process(None) == ""


async def test_format_text_uppercase_variable_in_template():
    """Lowercases the variable name inside {{ }} so {{ Name }} reads property name."""
    assert await fmt("Hi {{ Name }}", name="Bob") == "Hi Bob"


async def test_format_text_uppercase_property_key():
    """Lowercases dynamic property keys so property NAME feeds {{ name }}."""
    assert await fmt("Hi {{ name }}", NAME="Bob") == "Hi Bob"
    assert await fmt("Hi {{ NAME }}", Name="Bob") == "Hi Bob"


async def test_format_text_replace_quirk_touches_whole_template():
    """Replaces the variable text everywhere in the template, as NodeTool's str.replace does."""
    # The captured variable is "Name " (with its trailing space): every "Name " becomes "name ".
    assert await fmt("Name {{ Name }}", name="Bob") == "name Bob"
    # Here the captured variable is "Title" (up to the "|"), so the label is lowercased too.
    assert await fmt("Title: {{ Title|upper }}", title="x") == "title: X"
    assert await fmt("TITLE {{ title }}", title="x") == "TITLE x"


async def test_format_text_drops_one_trailing_newline():
    """Drops exactly one trailing newline of the template (keep_trailing_newline=False)."""
    assert await fmt("a\n") == "a"
    assert await fmt("a\n\n") == "a\n"
    assert await fmt("line1\nline2") == "line1\nline2"


async def test_format_text_undefined_renders_empty():
    """Renders an undefined variable as an empty string."""
    assert await fmt("[{{ missing }}]") == "[]"


async def test_format_text_python_str_of_values():
    """Renders values with str(): True/False, lists, floats, None."""
    out = await fmt("{{ a }} {{ b }} {{ c }} {{ d }} {{ e }}", a=True, b=False, c=[1, "x"],
                    d=1825.75, e=None)
    assert out == "True False [1, 'x'] 1825.75 None"


async def test_format_text_filters():
    """Applies Jinja filters: upper, truncate, join, default, length."""
    out = await fmt("{{ t|upper }}|{{ long|truncate(5) }}|{{ xs|join(',') }}|{{ m|default('d') }}|{{ xs|length }}",
                    t="ab", long="hello world", xs=[1, 2])
    assert out == "AB|he...|1,2|d|2"


async def test_format_text_no_autoescape():
    """Leaves HTML as it is (no autoescaping)."""
    assert await fmt("{{ h }}", h="<b>&</b>") == "<b>&</b>"


@pytest.mark.parametrize("template", ["{{ x ", "{% for %}", "{{ 1 / 0 }}", "{{ x|nosuchfilter }}"])
async def test_format_text_errors_are_template_errors(template):
    """Raises ValueError("Template error: ...") for any failure."""
    with pytest.raises(ValueError, match=r"^Template error: "):
        await fmt(template, x=1)


async def test_format_text_sandboxed():
    """Refuses unsafe attribute access to Python internals."""
    with pytest.raises(ValueError, match="Template error"):
        await fmt("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert await fmt("{{ x.__class__ }}", x=1) == ""


@pytest.mark.parametrize("template", ["{{ 'a' * 10**9 }}", "{{ 'a'.ljust(10**9) }}",
                                      "{{ 'a'|center(10**9) }}", "{{ '%0999999999d'|format(1) }}",
                                      "{{ 2 ** 10000000 }}", "{{ ('a' * 1000).replace('', 'b' * 5000) }}"])
async def test_format_text_refuses_huge_results(template):
    """Refuses to build huge strings or numbers, quickly."""
    start = time.process_time()
    with pytest.raises(ValueError, match="Template error"):
        await fmt(template)
    assert time.process_time() - start < 5  # CPU seconds: refused, not built (not a speed test)


async def test_format_text_example_template():
    """Renders the Conditional Logic Engine's route line as NodeTool does."""
    out = await fmt("- Greater than 100? {{ gt_100 }}\n- Route: {{ route }}", gt_100=False, route="MEDIUM_VALUE")
    assert out == "- Greater than 100? False\n- Route: MEDIUM_VALUE"


async def test_template_node():
    """Replaces {{ key }} (any spacing) with str(value); leaves unknown placeholders."""
    node = T.Template(string="{{a}} and {{ b }} and {{ c }}", values={"a": 1, "b": [2]})
    assert await node.process(None) == "1 and [2] and {{ c }}"


async def test_template_dynamic_properties_and_literal_values():
    """Uses dynamic properties over values and inserts backslashes literally."""
    node = T.Template(string="{{ a }}", values={"a": "x"}, dynamic_properties={"a": r"C:\new\d"})
    assert await node.process(None) == r"C:\new\d"
    assert await T.Template(string="{{ a }}", values="not a dict").process(None) == "{{ a }}"
    assert await T.Template().process(None) == ""


async def test_to_string():
    """Converts with str() by default and repr() in repr mode; the default value is ()."""
    assert await T.ToString(value=5).process(None) == "5"
    assert await T.ToString(value="a", mode="repr").process(None) == "'a'"
    assert await T.ToString().process(None) == "()"


async def test_to_string_mode_property():
    """Takes NodeTool's ``mode`` property (default str; repr on request)."""
    assert T.ToString().mode == T.ToString.Mode.STR
    assert await T.ToString(value=[1], mode="repr").process(None) == "[1]"
    assert await T.ToString(value="a", mode="repr").process(None) == "'a'"
    assert "mode" in T.ToString.properties() and T.ToString.compute_mode == "process"


async def test_collect_text_stream():
    """Joins a stream of strings with the separator when it ends."""
    node = T.Collect(separator=", ")
    assert await run_node(node, input_item=["a", "b", 3]) == [("output", "a, b, 3")]
    assert await run_node(T.Collect(), input_item=[]) == [("output", "")]


async def test_extract_json():
    """Extracts with JSONPath: first match, all matches, and an error for no match."""
    text = '{"items": [{"name": "a", "n": 1}, {"name": "b", "n": 2}], "meta": {"name": "m"}}'
    assert await T.ExtractJSON(text=text, json_path="$.items[0].name").process(None) == "a"
    assert await T.ExtractJSON(text=text, json_path="$.items[*].n", find_all=True).process(None) == [1, 2]
    assert await T.ExtractJSON(text=text, json_path="$..name", find_all=True).process(None) == ["m", "a", "b"]
    assert await T.ExtractJSON(text='{"a": 1}').process(None) == 1  # default "$.*"
    with pytest.raises(ValueError):
        await T.ExtractJSON(text=text, json_path="$.nothing").process(None)


def test_jsonpath_subset():
    """Supports quoted keys, negative indices, slices and wildcards."""
    data = {"a b": [1, 2, 3, 4], "x": {"y": 1, "z": 2}}
    assert jsonpath_find(data, "$['a b'][-1]") == [4]
    assert jsonpath_find(data, "$['a b'][1:3]") == [2, 3]
    assert jsonpath_find(data, "$.x.*") == [1, 2]
    assert jsonpath_find(data, "x.y") == [1]
    with pytest.raises(ValueError):
        jsonpath_find(data, "$.x[?(@.y)]")


CASES = [
    (T.Concat, {"a": "ab", "b": "cd"}, "abcd"),
    (T.Concat, {}, ""),
    (T.Join, {"strings": ["a", 1, True], "separator": "-"}, "a-1-True"),
    (T.Join, {}, ""),
    (T.Replace, {"text": "a-b-c", "old": "-", "new": "+"}, "a+b+c"),
    (T.Split, {"text": "a,b,,c"}, ["a", "b", "", "c"]),
    (T.Split, {"text": "a b", "delimiter": " "}, ["a", "b"]),
    (T.Split, {}, [""]),
    (T.Extract, {"text": "hello", "start": 1, "end": 3}, "el"),
    (T.Extract, {"text": "hello"}, ""),
    (T.Chunk, {"text": "a b c d e", "length": 2}, ["a b", "c d", "e"]),
    (T.Chunk, {"text": "a b c d", "length": 2, "overlap": 1}, ["a b", "b c", "c d", "d"]),
    (T.Chunk, {"text": "a,b,c", "length": 2, "separator": ","}, ["a b", "c"]),
    (T.ExtractRegex, {"text": "ab12cd34", "regex": r"(\d)(\d)"}, ["1", "2"]),
    (T.ExtractRegex, {"text": "abc", "regex": r"(\d)"}, []),
    (T.ExtractRegex, {"text": "A1", "regex": r"(a)(\d)", "ignorecase": True}, ["A", "1"]),
    (T.ExtractRegex, {"text": "a\nb", "regex": r"(a.b)", "dotall": True}, ["a\nb"]),
    (T.FindAllRegex, {"text": "a1b22c", "regex": r"\d+"}, ["1", "22"]),
    (T.FindAllRegex, {"text": "x\ny", "regex": r"^\w$", "multiline": True}, ["x", "y"]),
    (T.ParseJSON, {"text": '{"a": [1, 2]}'}, {"a": [1, 2]}),
    (T.ParseJSON, {"text": "3"}, 3),
    (T.RegexMatch, {"text": "a1 b2", "pattern": r"([a-z])(\d)"}, ["a1", "b2"]),
    (T.RegexMatch, {"text": "a1 b2", "pattern": r"([a-z])(\d)", "group": 2}, ["1", "2"]),
    (T.RegexMatch, {"text": "a1 b2", "pattern": r"([a-z])(\d)", "group": None}, [("a", "1"), ("b", "2")]),
    (T.RegexReplace, {"text": "a1b2c3", "pattern": r"\d", "replacement": "#"}, "a#b#c#"),
    (T.RegexReplace, {"text": "a1b2c3", "pattern": r"\d", "replacement": "#", "count": 2}, "a#b#c3"),
    (T.RegexSplit, {"text": "a1b22c", "pattern": r"\d+"}, ["a", "b", "c"]),
    (T.RegexSplit, {"text": "a1b22c", "pattern": r"\d+", "maxsplit": 1}, ["a", "b22c"]),
    (T.RegexValidate, {"text": "abc123", "pattern": r"[a-z]+\d+"}, True),
    (T.RegexValidate, {"text": "x abc", "pattern": r"abc"}, False),
    (T.Compare, {"text_a": "a", "text_b": "b"}, "less"),
    (T.Compare, {"text_a": "b", "text_b": "a"}, "greater"),
    (T.Compare, {}, "equal"),
    (T.Compare, {"text_a": "A ", "text_b": "a", "case_sensitive": False, "trim_whitespace": True}, "equal"),
    (T.Equals, {"text_a": "a", "text_b": "a"}, True),
    (T.Equals, {"text_a": "A", "text_b": "a"}, False),
    (T.Equals, {"text_a": " A", "text_b": "a", "case_sensitive": False, "trim_whitespace": True}, True),
    (T.ToUppercase, {"text": "aBc"}, "ABC"),
    (T.ToLowercase, {"text": "aBc"}, "abc"),
    (T.ToTitlecase, {"text": "hello world"}, "Hello World"),
    (T.CapitalizeText, {"text": "hello World"}, "Hello world"),
    (T.Slice, {"text": "hello"}, "hello"),
    (T.Slice, {"text": "hello", "start": 1, "stop": 3}, "el"),
    (T.Slice, {"text": "hello", "step": -1}, "olleh"),
    (T.Slice, {"text": "hello", "start": -3}, "llo"),
    (T.Slice, {"text": "hello", "start": -2, "step": -1}, "lleh"),
    (T.StartsWith, {"text": "hello", "prefix": "he"}, True),
    (T.StartsWith, {"text": "hello", "prefix": "lo"}, False),
    (T.EndsWith, {"text": "hello", "suffix": "lo"}, True),
    (T.EndsWith, {"text": "hello", "suffix": "he"}, False),
    (T.Contains, {"text": "Hello", "substring": "ell"}, True),
    (T.Contains, {"text": "Hello", "substring": "HELL"}, False),
    (T.Contains, {"text": "Hello", "substring": "HELL", "case_sensitive": False}, True),
    (T.Contains, {"text": "a b", "search_values": ["a", "z"]}, True),
    (T.Contains, {"text": "a b", "search_values": ["a", "z"], "match_mode": "all"}, False),
    (T.Contains, {"text": "a b", "search_values": ["x", "z"], "match_mode": "none"}, True),
    (T.TrimWhitespace, {"text": "  a  "}, "a"),
    (T.TrimWhitespace, {"text": "  a  ", "trim_end": False}, "a  "),
    (T.TrimWhitespace, {"text": "  a  ", "trim_start": False}, "  a"),
    (T.TrimWhitespace, {"text": " a ", "trim_start": False, "trim_end": False}, " a "),
    (T.CollapseWhitespace, {"text": "  a \t b\n\nc  "}, "a b c"),
    (T.CollapseWhitespace, {"text": "a  b\n\nc", "preserve_newlines": True}, "a b\n\nc"),
    (T.CollapseWhitespace, {"text": " a  b ", "replacement": "_", "trim_edges": False}, "_a_b_"),
    (T.IsEmpty, {"text": "   "}, True),
    (T.IsEmpty, {"text": "   ", "trim_whitespace": False}, False),
    (T.IsEmpty, {}, True),
    (T.RemovePunctuation, {"text": "Hi, there!"}, "Hi there"),
    (T.RemovePunctuation, {"text": "a.b", "replacement": " "}, "a b"),
    (T.RemovePunctuation, {"text": "a.b,c", "punctuation": "."}, "ab,c"),
    (T.StripAccents, {"text": "Café naïve"}, "Cafe naive"),
    (T.StripAccents, {"text": "Café ß", "preserve_non_ascii": False}, "Cafe "),
    (T.Slugify, {"text": "Hello, World! 2024"}, "hello-world-2024"),
    (T.Slugify, {"text": "Crème Brûlée", "separator": "_", "lowercase": False}, "Creme_Brulee"),
    (T.Slugify, {"text": "naïve café", "allow_unicode": True}, "naive-cafe"),
    (T.HasLength, {"text": "abc"}, True),
    (T.HasLength, {"text": "abc", "exact_length": 3}, True),
    (T.HasLength, {"text": "abc", "exact_length": 2}, False),
    (T.HasLength, {"text": "abc", "min_length": 4}, False),
    (T.HasLength, {"text": "abc", "max_length": 2}, False),
    (T.HasLength, {"text": "abc", "min_length": 1, "max_length": 3}, True),
    (T.TruncateText, {"text": "hello world", "max_length": 5}, "hello"),
    (T.TruncateText, {"text": "hello world", "max_length": 8, "ellipsis": "..."}, "hello..."),
    (T.TruncateText, {"text": "hi", "max_length": 5, "ellipsis": "..."}, "hi"),
    (T.TruncateText, {"text": "hi", "max_length": 0, "ellipsis": "…"}, "…"),
    (T.TruncateText, {"text": "x" * 150}, "x" * 100),
    (T.PadText, {"text": "ab", "length": 5}, "ab   "),
    (T.PadText, {"text": "ab", "length": 5, "direction": "left", "pad_character": "0"}, "000ab"),
    (T.PadText, {"text": "ab", "length": 5, "direction": "both", "pad_character": "*"}, "*ab**"),
    (T.PadText, {"text": "abcdef", "length": 3}, "abcdef"),
    (T.Length, {"text": "hello"}, 5),
    (T.Length, {"text": " two words ", "measure": "words"}, 2),
    (T.Length, {"text": "a\n\nb", "measure": "lines"}, 3),
    (T.Length, {"text": "a\n\nb", "measure": "lines", "trim_whitespace": True}, 2),
    (T.Length, {"text": "", "measure": "lines"}, 0),
    (T.IndexOf, {"text": "abcabc", "substring": "c"}, 2),
    (T.IndexOf, {"text": "abcabc", "substring": "c", "search_from_end": True}, 5),
    (T.IndexOf, {"text": "abcabc", "substring": "C", "case_sensitive": False}, 2),
    (T.IndexOf, {"text": "abcabc", "substring": "a", "start_index": 1}, 3),
    (T.IndexOf, {"text": "abcabc", "substring": "c", "end_index": 2}, -1),
    (T.IndexOf, {"text": "abc", "substring": "z"}, -1),
    (T.SurroundWith, {"text": "a", "prefix": "(", "suffix": ")"}, "(a)"),
    (T.SurroundWith, {"text": "(a)", "prefix": "(", "suffix": ")"}, "(a)"),
    (T.SurroundWith, {"text": "(a)", "prefix": "(", "suffix": ")", "skip_if_wrapped": False}, "((a))"),
]


@pytest.mark.parametrize("cls, kwargs, expected", CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
async def test_text_nodes(cls, kwargs, expected, ctx):
    """Computes each text node's result as NodeTool does."""
    assert await cls(**kwargs).process(ctx) == expected


async def test_text_node_errors():
    """Raises for a bad pad character, a bad chunk overlap and invalid JSON."""
    with pytest.raises(ValueError):
        await T.PadText(text="a", length=3, pad_character="ab").process(None)
    with pytest.raises(ValueError):
        await T.Chunk(text="a b", length=2, overlap=2).process(None)
    with pytest.raises(ValueError):
        await T.ParseJSON(text="{nope").process(None)


@pytest.mark.parametrize("value, filter_type, criteria, passes", [
    ("hello", "contains", "ell", True), ("hello", "contains", "z", False),
    ("hello", "starts_with", "he", True), ("hello", "ends_with", "lo", True),
    ("hello", "length_greater", "3", True), ("hi", "length_greater", "3", False),
    ("hi", "length_less", "3", True), ("abc", "exact_length", "3", True),
    ("abc", "exact_length", "x", False), (5, "contains", "5", False),
])
async def test_filter_string(value, filter_type, criteria, passes):
    """Passes on a streamed string only when it meets the filter."""
    node = T.FilterString.model_construct(value=value, filter_type=filter_type, criteria=criteria)
    assert await gen(node) == ([{"output": value}] if passes else [])


@pytest.mark.parametrize("value, pattern, full, passes", [
    ("abc123", r"\d+", False, True), ("abc123", r"\d+", True, False),
    ("123", r"\d+", True, True), ("abc", r"(", False, False), (7, r"7", False, False),
])
async def test_filter_regex_string(value, pattern, full, passes):
    """Passes on a streamed string only when the pattern matches (invalid pattern: none)."""
    node = T.FilterRegexString.model_construct(value=value, pattern=pattern, full_match=full)
    assert await gen(node) == ([{"output": value}] if passes else [])
