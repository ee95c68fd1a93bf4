"""nodetool.text: string nodes, FormatText (Jinja2) first.

FormatText keeps NodeTool's quirks: variable names inside ``{{ ... }}`` and the
dynamic property keys are lowercased, undefined names render as "", one trailing
newline of the template is dropped, values render with ``str()`` (True, [1, 2]),
and any failure is ``ValueError("Template error: ...")``. NodeTool renders with a
plain ``jinja2.Environment``; here it is a sandboxed one (same output for ordinary
templates) with a work budget and size limits (see ``_jinja``).
"""

import json
import re
import string as _string
import unicodedata
from enum import Enum
from typing import Any, AsyncIterator, TypedDict

from pydantic import Field

from ..expr import MAX_SIZE
from ..node import BaseNode
from . import _regex
from ._jinja import check_template, render_jinja
from ._util import UNSET, enum_value, value_matches

NAMESPACE = "nodetool.text"

__all__ = ["FormatText", "Template", "ToString", "Concat", "Join", "Collect", "Replace",
           "Split", "Extract", "Chunk", "ExtractRegex", "FindAllRegex", "ParseJSON",
           "ExtractJSON", "RegexMatch", "RegexReplace", "RegexSplit", "RegexValidate",
           "Compare", "Equals", "ToUppercase", "ToLowercase", "ToTitlecase", "CapitalizeText",
           "Slice", "StartsWith", "EndsWith", "Contains", "TrimWhitespace",
           "CollapseWhitespace", "IsEmpty", "RemovePunctuation", "StripAccents", "Slugify",
           "HasLength", "TruncateText", "PadText", "Length", "IndexOf", "SurroundWith",
           "FilterString", "FilterRegexString", "render_jinja", "jsonpath_find"]


# Formatting

_MAX_LOWERCASE_WORK = 1_000_000_000  # characters scanned by FormatText's lowercasing


def _lowercase_placeholders(template: str) -> str:
    """NodeTool's quirk: lowercase each ``{{ name`` expression with a plain replace over
    the whole template, one after the other (so text outside placeholders changes too).

    A replace that changed nothing leaves the template as it was, so the same name
    again is skipped until some replace changes the template; past that, the work
    (placeholders times length) is capped.
    """
    check_template(template)
    absent: set[str] = set()
    work = 0
    for var in re.findall(r"{{\s*([^|}]+)", template):
        lowered = var.lower()
        if lowered == var or var in absent:
            continue
        work += len(template)
        if work > _MAX_LOWERCASE_WORK:
            raise ValueError(f"template too large for its placeholders (more than "
                             f"{_MAX_LOWERCASE_WORK:,} characters to scan)")
        replaced = template.replace(var, lowered)
        if replaced is template:
            absent.add(var)
        else:
            absent.clear()
            template = replaced
    return template


class FormatText(BaseNode):
    """
    Replaces placeholders in a string with dynamic inputs using Jinja2 templating.
    text, template, formatting

    Examples: "Hello, {{ name }}!", "Title: {{ title|truncate(20) }}", "Name: {{ name|upper }}"

    As in NodeTool's TypeScript runtime, ``{name}`` in single braces (not touching
    another brace) stands for ``{{ name }}`` when ``name`` is one of the inputs;
    other single-brace text stays as it is.
    """

    is_dynamic = True

    template: str = Field(default="", description="Jinja2 template, e.g. Hello, {{ name }}. "
                          "Filters: truncate, upper, lower, title, trim, replace, default, first, "
                          "last, length, sort, join")

    async def process(self, context: Any) -> str:
        try:
            template_str = _single_braces(self.template, self.dynamic_properties)
            template_str = _lowercase_placeholders(template_str)
            props = {str(k).lower(): v for k, v in self.dynamic_properties.items()}
            return render_jinja(template_str, props)
        except Exception as exc:
            raise ValueError(f"Template error: {exc}") from None


def _single_braces(template: str, names: Any) -> str:
    """``{name}`` -> ``{{ name }}`` for each input name (NodeTool's TS FormatText)."""
    if "{" not in template:
        return template
    for name in names:
        key = str(name)
        if key.isidentifier():
            template = re.sub(r"(?<!\{)\{" + re.escape(key) + r"\}(?!\})",
                              "{{ " + key + " }}", template)
    return template


class Template(BaseNode):
    """
    Replaces ``{{ key }}`` in ``string`` with ``str(value)`` for each key of ``values``
    and of the dynamic properties (no Jinja: unknown placeholders stay as they are).
    text, template, formatting, format, combine, concatenate, +, add, variable, replace
    """

    is_dynamic = True

    string: str = Field(default="", description="The text with {{ key }} placeholders.")
    values: Any = Field(default={}, description="The values to put in: a dictionary.")

    async def process(self, context: Any) -> str:
        template_values: dict[str, Any] = {}
        if isinstance(self.values, dict):
            template_values.update(self.values)
        template_values.update(self.dynamic_properties)
        result = self.string
        for key, value in template_values.items():
            pattern = r"{{\s*" + re.escape(str(key)) + r"\s*}}"
            text = str(value)
            result = re.sub(pattern, lambda _m: text, result)
        return result


class ToString(BaseNode):
    """
    Converts any value to its string representation (``str`` or ``repr``).
    text, string, convert, repr, str, cast
    """

    class Mode(str, Enum):
        STR = "str"
        REPR = "repr"

    value: Any = Field(default=UNSET, title="Value")
    mode: Mode = Field(default=Mode.STR, description="Conversion mode: str(value) or repr(value).")

    async def process(self, context: Any) -> str:
        if enum_value(self.mode) == "repr":
            return repr(self.value)
        return str(self.value)


class Concat(BaseNode):
    """
    Concatenates two text inputs into a single output.
    text, combine, add, +, concatenate, merge, join, append
    """

    node_title = "Concatenate Text"

    a: str = Field(default="")
    b: str = Field(default="")

    async def process(self, context: Any) -> str:
        return self.a + self.b


class Join(BaseNode):
    """
    Joins a list of values (each passed through ``str``) with a separator.
    text, join, combine, +, add, concatenate, merge
    """

    strings: list[Any] = Field(default=[])
    separator: str = Field(default="")

    async def process(self, context: Any) -> str:
        if len(self.strings) == 0:
            return ""
        return self.separator.join(str(s) for s in self.strings)


class Collect(BaseNode):
    """
    Collects a stream of text items into one string, joined by ``separator``.
    text, collect, list, stream, aggregate
    """

    input_item: str = Field(default="")
    separator: str = Field(default="")

    class OutputType(TypedDict):
        output: str

    async def run(self, context: Any, inputs: Any, outputs: Any) -> None:
        items: list[str] = []
        async for item in inputs.stream("input_item"):
            items.append(item if isinstance(item, str) else str(item))
        await outputs.emit("output", self.separator.join(items))


class Replace(BaseNode):
    """
    Replaces every occurrence of ``old`` in ``text`` with ``new``.
    text, replace, substitute
    """

    node_title = "Replace Text"

    text: str = Field(default="", title="Text")
    old: str = Field(default="", title="Old")
    new: str = Field(default="", title="New")

    async def process(self, context: Any) -> str:
        return self.text.replace(self.old, self.new)


class Split(BaseNode):
    """
    Splits text on ``delimiter`` into a list of strings.
    text, split, tokenize
    """

    node_title = "Split Text"

    text: str = Field(default="", title="Text")
    delimiter: str = ","

    async def process(self, context: Any) -> list[str]:
        return self.text.split(self.delimiter)


class Extract(BaseNode):
    """
    Extracts ``text[start:end]``.
    text, extract, substring
    """

    node_title = "Extract Text"

    text: str = Field(default="", title="Text")
    start: int = Field(default=0, title="Start")
    end: int = Field(default=0, title="End")

    async def process(self, context: Any) -> str:
        return self.text[self.start:self.end]


class Chunk(BaseNode):
    """
    Splits text into chunks of ``length`` words (``overlap`` words shared), joined by spaces.
    text, chunk, split
    """

    node_title = "Split Text into Chunks"

    text: str = Field(default="", title="Text")
    length: int = Field(default=100, ge=1, le=1000, title="Length")
    overlap: int = Field(default=0, title="Overlap")
    separator: str | None = Field(default=" ", title="Separator")

    async def process(self, context: Any) -> list[str]:
        words = self.text.split(sep=self.separator or None)
        step = self.length - self.overlap
        if step <= 0:
            raise ValueError("overlap must be smaller than length")
        chunks = [words[i:i + self.length] for i in range(0, len(words), step)]
        return [" ".join(chunk) for chunk in chunks]


def _flags(dotall: bool, ignorecase: bool, multiline: bool) -> int:
    flags = 0
    if dotall:
        flags |= re.DOTALL
    if ignorecase:
        flags |= re.IGNORECASE
    if multiline:
        flags |= re.MULTILINE
    return flags


class ExtractRegex(BaseNode):
    """
    The groups of the first match of ``regex`` in ``text`` ([] when none).
    text, regex, extract
    """

    node_title = "Extract Regex Groups"

    text: str = Field(default="", title="Text")
    regex: str = Field(default="", title="Regex")
    dotall: bool = Field(default=False, title="Dotall")
    ignorecase: bool = Field(default=False, title="Ignorecase")
    multiline: bool = Field(default=False, title="Multiline")

    async def process(self, context: Any) -> list[str]:
        match = _regex.search(self.regex, self.text,
                              _flags(self.dotall, self.ignorecase, self.multiline))
        return [] if match is None else list(match.groups())


class FindAllRegex(BaseNode):
    """
    Every match of ``regex`` in ``text`` (``re.findall``).
    text, regex, find
    """

    node_title = "Find All Regex Matches"

    text: str = Field(default="", title="Text")
    regex: str = Field(default="", title="Regex")
    dotall: bool = Field(default=False, title="Dotall")
    ignorecase: bool = Field(default=False, title="Ignorecase")
    multiline: bool = Field(default=False, title="Multiline")

    async def process(self, context: Any) -> list[Any]:
        return list(_regex.findall(self.regex, self.text,
                                   _flags(self.dotall, self.ignorecase, self.multiline)))


class ParseJSON(BaseNode):
    """
    Parses a JSON string into a value.
    json, parse, convert
    """

    node_title = "Parse JSON String"

    text: str = Field(default="", title="JSON string")

    async def process(self, context: Any) -> Any:
        return json.loads(self.text)


# A small JSONPath: $, .name, ['name'], [n], [a:b], [*], .*, ..name
_JSONPATH_TOKEN = re.compile(
    r"""\.\.(?P<deep>[A-Za-z_][\w-]*|\*)
      | \.(?P<name>[A-Za-z_][\w-]*|\*)
      | \[\s*(?P<quoted>'[^']*'|"[^"]*")\s*\]
      | \[\s*(?P<slice>-?\d*\s*:\s*-?\d*)\s*\]
      | \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*\*\s*\]""", re.VERBOSE)


def jsonpath_find(data: Any, path: str) -> list[Any]:
    """The values ``path`` selects in ``data`` (a common subset of JSONPath)."""
    path = path.strip()
    if not path.startswith("$"):
        path = "$." + path
    pos, current = 1, [data]
    while pos < len(path):
        m = _JSONPATH_TOKEN.match(path, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath at {path[pos:]!r}")
        pos = m.end()
        nxt: list[Any] = []
        if m.group("deep") is not None:
            key = m.group("deep")
            for value in current:
                nxt.extend(_descend(value, key))
        elif m.group("name") is not None or m.group("quoted") is not None or m.group(0).strip("[] ") == "*":
            key = m.group("name") if m.group("name") is not None else (
                m.group("quoted")[1:-1] if m.group("quoted") is not None else "*")
            for value in current:
                if key == "*":
                    nxt.extend(value.values() if isinstance(value, dict) else
                               value if isinstance(value, list) else [])
                elif isinstance(value, dict) and key in value:
                    nxt.append(value[key])
        elif m.group("index") is not None:
            i = int(m.group("index"))
            for value in current:
                if isinstance(value, list) and -len(value) <= i < len(value):
                    nxt.append(value[i])
        else:
            lo, hi = (p.strip() for p in m.group("slice").split(":"))
            for value in current:
                if isinstance(value, list):
                    nxt.extend(value[int(lo) if lo else None:int(hi) if hi else None])
        current = nxt
    return current


def _descend(value: Any, key: str) -> list[Any]:
    out: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop(0)
        if isinstance(item, dict):
            if key == "*":
                out.extend(item.values())
            elif key in item:
                out.append(item[key])
            stack.extend(item.values())
        elif isinstance(item, list):
            if key == "*":
                out.extend(item)
            stack.extend(item)
    return out


class ExtractJSON(BaseNode):
    """
    Extracts data from a JSON string with a JSONPath expression ($.a.b, $.items[0],
    $.items[*].name, $..name, [1:3]); the first match, or all with ``find_all``.
    json, extract, jsonpath
    """

    node_title = "Extract JSON"

    text: str = Field(default="", title="JSON Text")
    json_path: str = Field(default="$.*", title="JSONPath Expression")
    find_all: bool = Field(default=False, title="Find All")

    async def process(self, context: Any) -> Any:
        matches = jsonpath_find(json.loads(self.text), self.json_path)
        if self.find_all:
            return matches
        if not matches:
            raise ValueError(f"JSONPath {self.json_path!r} matched nothing")
        return matches[0]


class RegexMatch(BaseNode):
    """
    Every match of ``pattern`` in ``text``: capture ``group`` of each (0: the whole
    match), or ``re.findall`` when group is None.
    regex, search, pattern, match
    """

    node_title = "Find Regex Matches"

    text: str = Field(default="", description="Text to search in")
    pattern: str = Field(default="", description="Regular expression pattern")
    group: int | None = Field(default=0, description="Capture group to extract (0 for full match)")

    async def process(self, context: Any) -> list[Any]:
        if self.group is None:
            return _regex.findall(self.pattern, self.text)
        return [m.group(self.group) for m in _regex.finditer(self.pattern, self.text)]


class RegexReplace(BaseNode):
    """
    Replaces matches of ``pattern`` with ``replacement`` (``count`` 0: all).
    regex, replace, substitute
    """

    node_title = "Replace with Regex"

    text: str = Field(default="", description="Text to perform replacements on")
    pattern: str = Field(default="", description="Regular expression pattern")
    replacement: str = Field(default="", description="Replacement text")
    count: int = Field(default=0, description="Maximum replacements (0 for unlimited)")

    async def process(self, context: Any) -> str:
        return _regex.sub(self.pattern, self.replacement, self.text, count=self.count)


class RegexSplit(BaseNode):
    """
    Splits text on matches of ``pattern`` (``maxsplit`` 0: no limit).
    regex, split, tokenize
    """

    node_title = "Split with Regex"

    text: str = Field(default="", description="Text to split")
    pattern: str = Field(default="", description="Regular expression pattern to split on")
    maxsplit: int = Field(default=0, description="Maximum number of splits (0 for unlimited)")

    async def process(self, context: Any) -> list[str]:
        return _regex.split(self.pattern, self.text, maxsplit=self.maxsplit)


class RegexValidate(BaseNode):
    """
    Whether ``pattern`` matches at the start of ``text`` (``re.match``).
    regex, validate, check
    """

    node_title = "Validate with Regex"

    text: str = Field(default="", description="Text to validate")
    pattern: str = Field(default="", description="Regular expression pattern")

    async def process(self, context: Any) -> bool:
        return bool(_regex.match(self.pattern, self.text))


def _normalize(value: str, trim: bool, case_sensitive: bool) -> str:
    value = value.strip() if trim else value
    return value if case_sensitive else value.lower()


class Compare(BaseNode):
    """
    Compares two texts: "less", "equal" or "greater".
    text, compare, equality, sort, equals, =
    """

    node_title = "Compare Text"

    text_a: str = Field(default="", title="First Text")
    text_b: str = Field(default="", title="Second Text")
    case_sensitive: bool = Field(default=True, title="Case Sensitive")
    trim_whitespace: bool = Field(default=False, title="Trim Whitespace")

    async def process(self, context: Any) -> str:
        left = _normalize(self.text_a, self.trim_whitespace, self.case_sensitive)
        right = _normalize(self.text_b, self.trim_whitespace, self.case_sensitive)
        if left < right:
            return "less"
        if left > right:
            return "greater"
        return "equal"


class Equals(BaseNode):
    """
    Whether two texts are equal (optionally ignoring case and surrounding whitespace).
    text, compare, equals, match, =
    """

    text_a: str = Field(default="", title="First Text")
    text_b: str = Field(default="", title="Second Text")
    case_sensitive: bool = Field(default=True, title="Case Sensitive")
    trim_whitespace: bool = Field(default=False, title="Trim Whitespace")

    async def process(self, context: Any) -> bool:
        return (_normalize(self.text_a, self.trim_whitespace, self.case_sensitive)
                == _normalize(self.text_b, self.trim_whitespace, self.case_sensitive))


class ToUppercase(BaseNode):
    """
    Converts text to uppercase.
    text, transform, uppercase, format
    """

    node_title = "To Uppercase"

    text: str = Field(default="", title="Text")

    async def process(self, context: Any) -> str:
        return self.text.upper()


class ToLowercase(BaseNode):
    """
    Converts text to lowercase.
    text, transform, lowercase, format
    """

    node_title = "To Lowercase"

    text: str = Field(default="", title="Text")

    async def process(self, context: Any) -> str:
        return self.text.lower()


class ToTitlecase(BaseNode):
    """
    Converts text to title case.
    text, transform, titlecase, format
    """

    node_title = "To Title Case"

    text: str = Field(default="", title="Text")

    async def process(self, context: Any) -> str:
        return self.text.title()


class CapitalizeText(BaseNode):
    """
    Capitalizes the first character (and lowercases the rest, as ``str.capitalize``).
    text, transform, capitalize, format
    """

    text: str = Field(default="", title="Text")

    async def process(self, context: Any) -> str:
        return self.text.capitalize()


class Slice(BaseNode):
    """
    Slices text as ``text[start:stop:step]``; ``start`` or ``stop`` 0 means from the
    start / to the end (so step -1 reverses the whole text).
    text, slice, substring
    """

    node_title = "Slice Text"

    text: str = Field(default="", title="Text")
    start: int | None = Field(default=0, title="Start Index")
    stop: int | None = Field(default=0, title="Stop Index")
    step: int | None = Field(default=1, title="Step")

    async def process(self, context: Any) -> str:
        start = self.start if self.start != 0 else None
        stop = self.stop if self.stop != 0 else None
        return self.text[start:stop:self.step or None]


class StartsWith(BaseNode):
    """
    Whether text starts with ``prefix``.
    text, check, prefix, compare, validate, substring, string
    """

    text: str = Field(default="", title="Text")
    prefix: str = Field(default="", title="Prefix")

    async def process(self, context: Any) -> bool:
        return self.text.startswith(self.prefix)


class EndsWith(BaseNode):
    """
    Whether text ends with ``suffix``.
    text, check, suffix, compare, validate, substring, string
    """

    text: str = Field(default="", title="Text")
    suffix: str = Field(default="", title="Suffix")

    async def process(self, context: Any) -> bool:
        return self.text.endswith(self.suffix)


class Contains(BaseNode):
    """
    Whether text contains ``substring`` (or, when given, any/all/none of ``search_values``).
    text, compare, validate, substring, string
    """

    node_title = "Contains Text"

    class MatchMode(str, Enum):
        ANY = "any"
        ALL = "all"
        NONE = "none"

    text: str = Field(default="", title="Text")
    substring: str = Field(default="", title="Substring")
    search_values: list[str] = Field(default=[], description="Optional list of substrings to check")
    case_sensitive: bool = Field(default=True, title="Case Sensitive")
    match_mode: MatchMode = Field(default=MatchMode.ANY, title="Match Mode")

    async def process(self, context: Any) -> bool:
        targets = self.search_values or [self.substring]
        haystack = self.text if self.case_sensitive else self.text.lower()
        needles = targets if self.case_sensitive else [t.lower() for t in targets]
        mode = enum_value(self.match_mode)
        if mode == "all":
            return all(n in haystack for n in needles)
        if mode == "none":
            return all(n not in haystack for n in needles)
        return any(n in haystack for n in needles)


class TrimWhitespace(BaseNode):
    """
    Trims whitespace from the start and/or end of text.
    text, whitespace, clean, remove
    """

    text: str = Field(default="", title="Text")
    trim_start: bool = Field(default=True, title="Trim Start")
    trim_end: bool = Field(default=True, title="Trim End")

    async def process(self, context: Any) -> str:
        if self.trim_start and self.trim_end:
            return self.text.strip()
        if self.trim_start:
            return self.text.lstrip()
        if self.trim_end:
            return self.text.rstrip()
        return self.text


class CollapseWhitespace(BaseNode):
    """
    Replaces each run of whitespace with ``replacement`` (newlines kept if asked).
    text, whitespace, normalize, clean, remove
    """

    text: str = Field(default="", title="Text")
    preserve_newlines: bool = Field(default=False, title="Preserve Newlines")
    replacement: str = Field(default=" ", title="Replacement")
    trim_edges: bool = Field(default=True, title="Trim Edges")

    async def process(self, context: Any) -> str:
        value = self.text.strip() if self.trim_edges else self.text
        repl = self.replacement
        if self.preserve_newlines:
            return re.sub(r"[^\S\r\n]+", lambda _m: repl, value)
        return re.sub(r"\s+", lambda _m: repl, value)


class IsEmpty(BaseNode):
    """
    Whether text is empty (or only whitespace, when trimming).
    text, check, empty, compare, validate, whitespace, string
    """

    text: str = Field(default="", title="Text")
    trim_whitespace: bool = Field(default=True, title="Trim Whitespace")

    async def process(self, context: Any) -> bool:
        text = self.text.strip() if self.trim_whitespace else self.text
        return len(text) == 0


class RemovePunctuation(BaseNode):
    """
    Removes (or replaces) punctuation characters.
    text, cleanup, punctuation, normalize
    """

    text: str = Field(default="", title="Text")
    replacement: str = Field(default="", title="Replacement")
    punctuation: str = Field(default=_string.punctuation, title="Punctuation Characters")

    async def process(self, context: Any) -> str:
        return self.text.translate({ord(ch): self.replacement for ch in self.punctuation})


class StripAccents(BaseNode):
    """
    Removes accent marks, keeping the base characters.
    text, cleanup, accents, normalize
    """

    text: str = Field(default="", title="Text")
    preserve_non_ascii: bool = Field(default=True, title="Preserve Non-ASCII")

    async def process(self, context: Any) -> str:
        normalized = unicodedata.normalize("NFKD", self.text)
        stripped = "".join(ch for ch in normalized if not unicodedata.combining(ch))
        if self.preserve_non_ascii:
            return stripped
        return stripped.encode("ascii", "ignore").decode("ascii")


class Slugify(BaseNode):
    """
    Converts text into a slug for URLs or ids ("Hello, World!" -> "hello-world").
    text, slug, normalize, id
    """

    text: str = Field(default="", title="Text")
    separator: str = Field(default="-", title="Separator")
    lowercase: bool = Field(default=True, title="Lowercase")
    allow_unicode: bool = Field(default=False, title="Allow Unicode")

    async def process(self, context: Any) -> str:
        value = unicodedata.normalize("NFKD", self.text)
        if not self.allow_unicode:
            value = value.encode("ascii", "ignore").decode("ascii")
        value = re.sub(r"[^\w\s-]", "", value)
        sep = self.separator
        value = re.sub(r"[\s_-]+", lambda _m: sep, value).strip(sep)
        return value.lower() if self.lowercase else value


class HasLength(BaseNode):
    """
    Whether the text length is ``exact_length``, or between ``min_length`` and
    ``max_length`` (None or 0 for exact/max: not checked).
    text, check, length, compare, validate, whitespace, string
    """

    node_title = "Check Length"

    text: str = Field(default="", title="Text")
    min_length: int | None = Field(default=None, title="Minimum Length")
    max_length: int | None = Field(default=None, title="Maximum Length")
    exact_length: int | None = Field(default=None, title="Exact Length")

    async def process(self, context: Any) -> bool:
        length = len(self.text)
        if self.exact_length:
            return length == self.exact_length
        if self.min_length is not None and length < self.min_length:
            return False
        if self.max_length and length > self.max_length:
            return False
        return True


class TruncateText(BaseNode):
    """
    Cuts text to ``max_length`` characters, ending with ``ellipsis`` when it was cut.
    text, truncate, length, clip
    """

    text: str = Field(default="", title="Text")
    max_length: int = Field(default=100, ge=0, title="Max Length")
    ellipsis: str = Field(default="", title="Ellipsis")

    async def process(self, context: Any) -> str:
        if self.max_length <= 0:
            return self.ellipsis if self.ellipsis else ""
        if len(self.text) <= self.max_length:
            return self.text
        if self.ellipsis and len(self.ellipsis) < self.max_length:
            return self.text[:self.max_length - len(self.ellipsis)] + self.ellipsis
        return self.text[:self.max_length]


class PadText(BaseNode):
    """
    Pads text to ``length`` with ``pad_character`` on the left, right or both sides.
    text, pad, length, format
    """

    class PadDirection(str, Enum):
        LEFT = "left"
        RIGHT = "right"
        BOTH = "both"

    text: str = Field(default="", title="Text")
    length: int = Field(default=0, ge=0, le=MAX_SIZE, title="Target Length")
    pad_character: str = Field(default=" ", title="Pad Character")
    direction: PadDirection = Field(default=PadDirection.RIGHT, title="Direction")

    async def process(self, context: Any) -> str:
        if len(self.pad_character) != 1:
            raise ValueError("pad_character must be a single character")
        if self.length <= len(self.text):
            return self.text
        needed = self.length - len(self.text)
        direction = enum_value(self.direction)
        if direction == "left":
            return self.pad_character * needed + self.text
        if direction == "both":
            left = needed // 2
            return self.pad_character * left + self.text + self.pad_character * (needed - left)
        return self.text + self.pad_character * needed


class Length(BaseNode):
    """
    Measures text as characters, words or lines.
    text, analyze, length, count
    """

    node_title = "Measure Length"

    class Measure(str, Enum):
        CHARACTERS = "characters"
        WORDS = "words"
        LINES = "lines"

    text: str = Field(default="", title="Text")
    measure: Measure = Field(default=Measure.CHARACTERS, title="Measure")
    trim_whitespace: bool = Field(default=False, title="Trim Whitespace")

    async def process(self, context: Any) -> int:
        value = self.text.strip() if self.trim_whitespace else self.text
        measure = enum_value(self.measure)
        if measure == "words":
            return len(value.split())
        if measure == "lines":
            if not value:
                return 0
            return len([line for line in value.splitlines() if line or not self.trim_whitespace])
        return len(value)


class IndexOf(BaseNode):
    """
    The position of ``substring`` in text (-1 when absent), searching
    ``[start_index, end_index)`` (end_index 0: to the end), first or last occurrence.
    text, search, find, substring
    """

    text: str = Field(default="", title="Text")
    substring: str = Field(default="", title="Substring")
    case_sensitive: bool = Field(default=True, title="Case Sensitive")
    start_index: int = Field(default=0, ge=0, title="Start Index")
    end_index: int | None = Field(default=0, title="End Index")
    search_from_end: bool = Field(default=False, title="Search From End")

    async def process(self, context: Any) -> int:
        haystack, needle = self.text, self.substring
        if not self.case_sensitive:
            haystack, needle = haystack.lower(), needle.lower()
        end = self.end_index if self.end_index else len(haystack)
        end = max(self.start_index, end)
        if self.search_from_end:
            return haystack.rfind(needle, self.start_index, end)
        return haystack.find(needle, self.start_index, end)


class SurroundWith(BaseNode):
    """
    Wraps text in ``prefix`` and ``suffix`` (unless already wrapped, by default).
    text, format, surround, decorate
    """

    text: str = Field(default="", title="Text")
    prefix: str = Field(default="", title="Prefix")
    suffix: str = Field(default="", title="Suffix")
    skip_if_wrapped: bool = Field(default=True, title="Skip If Already Wrapped")

    async def process(self, context: Any) -> str:
        if self.skip_if_wrapped and self.text.startswith(self.prefix) and self.text.endswith(self.suffix):
            return self.text
        return f"{self.prefix}{self.text}{self.suffix}"


class FilterString(BaseNode):
    """
    Passes on each streamed string that meets the criteria (contains, starts_with,
    ends_with, length_greater, length_less, exact_length); others are dropped.
    filter, strings, text, stream
    """

    class FilterType(str, Enum):
        CONTAINS = "contains"
        STARTS_WITH = "starts_with"
        ENDS_WITH = "ends_with"
        LENGTH_GREATER = "length_greater"
        LENGTH_LESS = "length_less"
        EXACT_LENGTH = "exact_length"

    value: str = Field(default="", description="Input string stream")
    filter_type: FilterType = Field(default=FilterType.CONTAINS, description="The type of filter to apply")
    criteria: str = Field(default="", description="Text to match, or a length")

    class OutputType(TypedDict):
        output: str

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        if _string_matches(self.value, enum_value(self.filter_type), self.criteria):
            yield {"output": self.value}


def _string_matches(val: Any, filter_type: str, criteria: str) -> bool:
    if not isinstance(val, str) or filter_type in ("equals", "type_is"):
        return False
    try:
        return value_matches(val, filter_type, criteria)
    except (TypeError, ValueError):  # a length criteria that is not a number
        return False


class FilterRegexString(BaseNode):
    """
    Passes on each streamed string that matches ``pattern`` (anywhere, or fully).
    filter, regex, pattern, text, stream
    """

    value: str = Field(default="", description="Input string stream")
    pattern: str = Field(default="", description="The regular expression pattern to match against.")
    full_match: bool = Field(default=False, description="Match the entire string")

    class OutputType(TypedDict):
        output: str

    async def gen_process(self, context: Any) -> AsyncIterator[dict[str, Any]]:
        try:
            regex = _regex.compile(self.pattern)
        except _regex.error:
            return
        if not isinstance(self.value, str):
            return
        matched = regex.fullmatch(self.value) if self.full_match else regex.search(self.value)
        if matched:
            yield {"output": self.value}


class HtmlToText(BaseNode):
    """
    Converts HTML content to Markdown text, as NodeTool's html2text does: ``#`` headings,
    ``[text](url)`` links resolved against the base URL, wrapped at the body width
    (written with markdownify, MIT, not the GPL html2text).
    html, convert, text, parse, extract
    """

    node_title = "HTML to Text"

    html: str = Field(default="", title="HTML", description="HTML content to convert")
    base_url: str = Field(default="", title="Base URL", description="Base URL for resolving relative links")
    body_width: int = Field(default=1000, title="Body Width", description="Width for text wrapping")
    ignore_images: bool = Field(default=True, title="Ignore Images", description="Whether to ignore image tags")
    ignore_mailto_links: bool = Field(default=True, title="Ignore Mailto Links",
                                      description="Whether to ignore mailto links")

    async def process(self, context: Any) -> str:
        from ._html import html_markdown

        return html_markdown(self.html, base_url=self.base_url, body_width=self.body_width,
                             ignore_images=self.ignore_images,
                             ignore_mailto_links=self.ignore_mailto_links)
