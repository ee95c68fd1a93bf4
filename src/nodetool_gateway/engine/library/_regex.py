"""Regular expressions from workflow data: Python ``re`` semantics on RE2 where it can.

A pattern a workflow supplies may backtrack catastrophically in Python's ``re``
(``(a+)+$`` on ``"a" * 40 + "b"`` never finishes). :func:`compile` parses the pattern
with Python's own parser (so syntax, flags, errors and group numbers are ``re``'s),
translates the parsed tree to RE2 syntax and matches with RE2, which runs in time
linear in the text. Matches, groups, ``findall``, ``sub`` templates (``\\1``,
``\\g<name>``) and ``split`` follow ``re``'s rules; ``\\d``, ``\\w`` and ``\\s`` keep
their Unicode meaning.

Python's ``re`` still runs what RE2 cannot express exactly, and only that:

- backreferences, lookaround, conditionals, atomic groups, possessive repeats,
  counted repeats past 1,000, ``re.ASCII`` with ``re.IGNORECASE``, a repeat whose body
  can match empty and holds groups or prefers empty (``(a|)*``), a program past RE2's
  memory limit;
- ``\\b``/``\\B`` when the text is not ASCII (RE2's word boundary is ASCII-only);
- ``$`` without MULTILINE when the text ends in a newline and has others;
- lone surrogates in the text when the pattern names U+D800-DFFF or U+FFFD (others
  match as U+FFFD, which every class treats alike);
- a pattern that would rather match empty than match a longer string at the same
  place (``a*?``, ``|a``), when that choice comes up in the text.

Those fallbacks can backtrack as ``re`` does; the workflow worker bounds them.
"""

from __future__ import annotations

import array
import functools
import itertools
import re
import sys
from typing import Any, Iterator

import re2
from re2 import _re2

try:  # Python's own regex parser and opcodes (stable names since 3.11)
    from re import _constants as _C, _parser
except ImportError:  # pragma: no cover - older layout
    import sre_constants as _C  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

__all__ = ["Regex", "Match", "error", "compile", "search", "match", "fullmatch",
           "finditer", "findall", "sub", "split"]

error = re.error

_CACHE_SIZE = 128
_RE2_MAX_MEM = 8 << 20  # RE2's default: a program past it is left to re
_RE2_MAX_REPEAT = 1000
_MAX_CODEPOINT = sys.maxunicode
_SURROGATES = (0xD800, 0xDFFF)
_REPLACEMENT = 0xFFFD
_ANCHOR = _re2.RE2.Anchor
_NO_SPAN = (-1, -1)

# Python's \s (str.isspace); \d is exactly \p{Nd} and \w exactly [\p{L}\p{N}_].
_SPACE_CHARS = tuple(c for c in range(0x3001) if chr(c).isspace())
_ASCII_SPACE_CHARS = (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20)


class _Unsupported(Exception):
    """The pattern uses something RE2 cannot express with ``re``'s meaning."""


# Character sets as sorted, merged lists of inclusive (lo, hi) ranges

def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= _MAX_CODEPOINT:
        out.append((start, _MAX_CODEPOINT))
    return out


def _runs(predicate) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in range(_MAX_CODEPOINT + 1):
        if predicate(chr(c)):
            if out and out[-1][1] == c - 1:
                out[-1] = (out[-1][0], c)
            else:
                out.append((c, c))
    return out


@functools.cache
def _category_ranges(category: Any) -> tuple[tuple[int, int], ...]:
    """The code points of a positive Unicode category, for set arithmetic."""
    if category is _C.CATEGORY_DIGIT:
        return tuple(_runs(str.isdecimal))
    if category is _C.CATEGORY_WORD:
        return tuple(_merge(_runs(str.isalnum) + [(0x5F, 0x5F)]))
    return tuple(_merge([(c, c) for c in _SPACE_CHARS]))


_NEGATED = {_C.CATEGORY_NOT_DIGIT: _C.CATEGORY_DIGIT, _C.CATEGORY_NOT_WORD: _C.CATEGORY_WORD,
            _C.CATEGORY_NOT_SPACE: _C.CATEGORY_SPACE}


def _char(c: int) -> str:
    if c < 128 and chr(c).isalnum():
        return chr(c)
    return f"\\x{{{c:x}}}"


def _class_body(ranges: list[tuple[int, int]]) -> str:
    return "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges)


# Translation of Python's parsed pattern to RE2 syntax

class _Translation:
    """The RE2 text of a parsed pattern and what its exactness depends on."""

    def __init__(self, parsed: Any):
        self.uses_boundary = False       # \b or \B: RE2 tests bytes, so exact on ASCII text only
        self.uses_non_boundary = False   # \B: re never matches it in an empty text
        self.uses_dollar = False         # $ without MULTILINE
        self.touches_surrogates = False  # a literal or range reaching U+D800-DFFF or U+FFFD
        self.flags = parsed.state.flags
        if self.flags & re.LOCALE:
            raise _Unsupported("LOCALE")
        if self.flags & re.ASCII and self.flags & re.IGNORECASE:
            raise _Unsupported("ASCII with IGNORECASE")
        body = self.seq(parsed, self.flags)
        prefix = "(?i)" if self.flags & re.IGNORECASE else ""
        self.dollar_end = prefix + body.replace("\0DOLLAR\0", "\\z")
        self.dollar_line = prefix + body.replace("\0DOLLAR\0", "(?m:$)")

    def seq(self, items: Any, flags: int) -> str:
        return "".join(self.item(op, av, flags) for op, av in items)

    def note_chars(self, lo: int, hi: int) -> None:
        if lo <= _SURROGATES[1] and hi >= _SURROGATES[0] or lo <= _REPLACEMENT <= hi:
            self.touches_surrogates = True

    def item(self, op: Any, av: Any, flags: int) -> str:
        if op is _C.LITERAL:
            self.note_chars(av, av)
            return _char(av)
        if op is _C.NOT_LITERAL:
            self.note_chars(av, av)
            return f"[^{_char(av)}]"
        if op is _C.ANY:
            return "(?s:.)" if flags & re.DOTALL else "[^\\n]"
        if op is _C.IN:
            return self.char_class(av, flags)
        if op is _C.BRANCH:
            return "(?:" + "|".join(self.seq(alt, flags) for alt in av[1]) + ")"
        if op is _C.SUBPATTERN:
            group, add, remove, sub = av
            if (add | remove) & re.LOCALE or add & re.ASCII and (flags | add) & re.IGNORECASE:
                raise _Unsupported("scoped flags")
            inner_flags = (flags | add) & ~remove
            inner = self.seq(sub, inner_flags)
            if (inner_flags ^ flags) & re.IGNORECASE:
                inner = ("(?i:" if inner_flags & re.IGNORECASE else "(?-i:") + inner + ")"
            return f"({inner})" if group is not None else f"(?:{inner})"
        if op is _C.MAX_REPEAT or op is _C.MIN_REPEAT:
            lo, hi, sub = av
            unbounded = hi == _C.MAXREPEAT
            if lo > _RE2_MAX_REPEAT or not unbounded and hi > _RE2_MAX_REPEAT:
                raise _Unsupported("repeat count")
            if (lo, unbounded) == (0, True):
                quant = "*"
            elif (lo, unbounded) == (1, True):
                quant = "+"
            elif (lo, hi) == (0, 1):
                quant = "?"
            elif unbounded:
                quant = f"{{{lo},}}"
            elif lo == hi:
                quant = f"{{{lo}}}"
            else:
                quant = f"{{{lo},{hi}}}"
            if (unbounded or hi > 1) and sub.getwidth()[0] == 0 and (
                    _captures(sub) or _prefers_empty(sub)):
                # re ends a repeat at its first empty pass (keeping that pass's groups);
                # RE2 makes no empty passes and may take a longer choice instead.
                raise _Unsupported("a repeat whose body can match empty")
            lazy = "?" if op is _C.MIN_REPEAT else ""
            return f"(?:{self.seq(sub, flags)}){quant}{lazy}"
        if op is _C.AT:
            return self.anchor(av, flags)
        raise _Unsupported(str(op))  # backreferences, lookaround, atomic, possessive, ...

    def anchor(self, at: Any, flags: int) -> str:
        if at is _C.AT_BEGINNING:
            return "(?m:^)" if flags & re.MULTILINE else "\\A"
        if at is _C.AT_BEGINNING_STRING:
            return "\\A"
        if at is _C.AT_END:
            if flags & re.MULTILINE:
                return "(?m:$)"
            self.uses_dollar = True
            return "\0DOLLAR\0"
        if at is _C.AT_END_STRING:
            return "\\z"
        if at is _C.AT_BOUNDARY or at is _C.AT_NON_BOUNDARY:
            self.uses_boundary = True
            if at is _C.AT_NON_BOUNDARY:
                self.uses_non_boundary = True
            return "\\b" if at is _C.AT_BOUNDARY else "\\B"
        raise _Unsupported(str(at))

    def category(self, category: Any, flags: int) -> tuple[str, bool]:
        """RE2 class text for a category (inside brackets) and whether it is negative."""
        positive = _NEGATED.get(category, category)
        negative = positive is not category
        if flags & re.ASCII:
            text = {_C.CATEGORY_DIGIT: "0-9", _C.CATEGORY_WORD: "0-9A-Za-z_",
                    _C.CATEGORY_SPACE: _class_body([(c, c) for c in _ASCII_SPACE_CHARS])}[positive]
        else:
            text = {_C.CATEGORY_DIGIT: "\\p{Nd}", _C.CATEGORY_WORD: "\\p{L}\\p{N}_",
                    _C.CATEGORY_SPACE: _class_body(list(_category_ranges(_C.CATEGORY_SPACE)))}[positive]
        return text, negative

    def char_class(self, items: list, flags: int) -> str:
        negate = bool(items) and items[0][0] is _C.NEGATE
        if negate:
            items = items[1:]
        plain: list[str] = []
        negatives: list[Any] = []
        for op, av in items:
            if op is _C.LITERAL:
                self.note_chars(av, av)
                plain.append(_char(av))
            elif op is _C.RANGE:
                self.note_chars(*av)
                plain.append(f"{_char(av[0])}-{_char(av[1])}")
            elif op is _C.CATEGORY:
                text, negative = self.category(av, flags)
                if negative:
                    negatives.append(av)
                else:
                    plain.append(text)
            else:
                raise _Unsupported(str(op))
        if not negatives:
            body = "".join(plain)
            if not body:
                return "[\\x00-\\x{10ffff}]" if negate else "[^\\x00-\\x{10ffff}]"
            return f"[^{body}]" if negate else f"[{body}]"
        if not negate:  # the negated categories are closed under case folding
            parts = [f"[^{self.category(c, flags)[0]}]" for c in negatives]
            if plain:
                parts.append(f"[{''.join(plain)}]")
            return "(?:" + "|".join(parts) + ")"
        # A negative category inside a negated (or case-folded) class: spell the set out.
        if flags & re.IGNORECASE:
            raise _Unsupported("negative category in a case-insensitive class")
        return self.explicit_class(items, negate, flags)

    def explicit_class(self, items: list, negate: bool, flags: int) -> str:
        ranges: list[tuple[int, int]] = []
        for op, av in items:
            if op is _C.LITERAL:
                ranges.append((av, av))
            elif op is _C.RANGE:
                ranges.append(av)
            else:
                positive = _NEGATED.get(av, av)
                if flags & re.ASCII:
                    got = _merge(_runs_ascii(positive))
                else:
                    got = list(_category_ranges(positive))
                ranges.extend(_complement(got) if positive is not av else got)
        merged = _merge(ranges)
        if negate:
            merged = _complement(merged)
        if not merged:
            return "[^\\x00-\\x{10ffff}]"
        return f"[{_class_body(merged)}]"


def _runs_ascii(category: Any) -> list[tuple[int, int]]:
    if category is _C.CATEGORY_DIGIT:
        return [(0x30, 0x39)]
    if category is _C.CATEGORY_WORD:
        return [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
    return [(c, c) for c in _ASCII_SPACE_CHARS]


def _captures(items: Any) -> bool:
    for op, av in items:
        if op is _C.SUBPATTERN and (av[0] is not None or _captures(av[3])):
            return True
        if op is _C.BRANCH and any(_captures(alt) for alt in av[1]):
            return True
        if (op is _C.MAX_REPEAT or op is _C.MIN_REPEAT) and _captures(av[2]):
            return True
    return False


def _prefers_empty(items: Any) -> bool:
    """Whether some choice in the pattern tries an empty match before a longer one
    (a lazy repeat, or an alternative that can be empty and is not the last)."""
    for op, av in items:
        if op is _C.MIN_REPEAT:
            return True
        if op is _C.BRANCH:
            alternatives = av[1]
            if any(alt.getwidth()[0] == 0 for alt in alternatives[:-1]) or \
                    any(_prefers_empty(alt) for alt in alternatives):
                return True
        elif (op is _C.SUBPATTERN and _prefers_empty(av[3])
              or op is _C.MAX_REPEAT and _prefers_empty(av[2])):
            return True
    return False


def _re2_program(text: str, longest: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    options.longest_match = longest
    program = _re2.RE2(text.encode("utf-8"), options)
    if not program.ok():
        raise _Unsupported(program.error().decode("utf-8", "replace"))
    return program


# Template expansion (re.sub's replacement strings), as Python parses them

_TEMPLATE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                     "v": "\v", "\\": "\\"}
_OCTAL = "01234567"
_DIGITS = "0123456789"


def _template_error(message: str, template: str, pos: int) -> re.error:
    return re.error(message, template, pos)


def _parse_template(template: str, groups: int, groupindex: dict[str, int]) -> list[Any]:
    """Literal strings and group numbers, in order; errors as ``re.sub`` raises them."""
    parts: list[Any] = []
    literal: list[str] = []

    def add_group(index: int, pos: int) -> None:
        if index > groups:
            raise _template_error(f"invalid group reference {index}", template, pos)
        if literal:
            parts.append("".join(literal))
            literal.clear()
        parts.append(index)

    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c != "\\":
            literal.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise _template_error("bad escape (end of pattern)", template, i)
        start, c = i, template[i + 1]
        i += 2
        if c == "g":
            if i >= n or template[i] != "<":
                raise _template_error("missing <", template, i)
            close = template.find(">", i + 1)
            if close < 0:
                raise _template_error("missing >, unterminated name", template, i + 1)
            name_at = i + 1
            name = template[name_at:close]
            if not name:
                raise _template_error("missing group name", template, name_at)
            i = close + 1
            if name.isidentifier():
                if name not in groupindex:
                    raise IndexError(f"unknown group name {name!r}")
                add_group(groupindex[name], name_at)
            else:
                if not (name.isdecimal() and name.isascii()):
                    raise _template_error(f"bad character in group name {name!r}", template, name_at)
                add_group(int(name), name_at)
        elif c == "0":
            digits = c
            while len(digits) < 3 and i < n and template[i] in _OCTAL:
                digits += template[i]
                i += 1
            literal.append(chr(int(digits, 8) & 0xFF))
        elif c in _DIGITS:
            digits = c
            if i < n and template[i] in _DIGITS:
                digits += template[i]
                i += 1
                if c in _OCTAL and digits[1] in _OCTAL and i < n and template[i] in _OCTAL:
                    digits += template[i]
                    i += 1
                    value = int(digits, 8)
                    if value > 0o377:
                        raise _template_error(f"octal escape value \\{digits} outside of "
                                              "range 0-0o377", template, start)
                    literal.append(chr(value))
                    continue
            add_group(int(digits), start + 1)
        elif c in _TEMPLATE_ESCAPES:
            literal.append(_TEMPLATE_ESCAPES[c])
        elif c.isascii() and c.isalpha():
            raise _template_error(f"bad escape \\{c}", template, start)
        else:
            literal.append("\\" + c)
    if literal:
        parts.append("".join(literal))
    return parts


# Matches

class Match:
    """The part of ``re.Match`` the nodes use: groups by number or name, and spans."""

    __slots__ = ("string", "re", "_spans")

    def __init__(self, regex: Regex, text: str, spans: list[tuple[int, int]]):
        self.string = text
        self.re = regex
        self._spans = spans

    def _index(self, group: Any) -> int:
        if isinstance(group, int) and not isinstance(group, bool) and 0 <= group < len(self._spans):
            return group
        if isinstance(group, str) and group in self.re.groupindex:
            return self.re.groupindex[group]
        raise IndexError("no such group")

    def _get(self, group: Any, default: Any = None) -> Any:
        start, end = self._spans[self._index(group)]
        return default if start < 0 else self.string[start:end]

    def group(self, *groups: Any) -> Any:
        if len(groups) <= 1:
            return self._get(groups[0] if groups else 0)
        return tuple(self._get(g) for g in groups)

    __getitem__ = _get

    def groups(self, default: Any = None) -> tuple[Any, ...]:
        return tuple(self._get(i, default) for i in range(1, len(self._spans)))

    def groupdict(self, default: Any = None) -> dict[str, Any]:
        return {name: self._get(index, default) for name, index in self.re.groupindex.items()}

    def start(self, group: Any = 0) -> int:
        return self._spans[self._index(group)][0]

    def end(self, group: Any = 0) -> int:
        return self._spans[self._index(group)][1]

    def span(self, group: Any = 0) -> tuple[int, int]:
        return self._spans[self._index(group)]

    def expand(self, template: str) -> str:
        parts = _parse_template(template, self.re.groups, self.re.groupindex)
        return "".join(p if isinstance(p, str) else (self._get(p) or "") for p in parts)

    def __repr__(self) -> str:
        return f"<Match span={self.span()} match={self.group()!r}>"


class _Diverges(Exception):
    """RE2 would pick a different match than ``re`` here; redo the call with ``re``."""


class _Text:
    """A text prepared for RE2: its UTF-8 bytes, and byte offsets turned into str offsets."""

    __slots__ = ("text", "data", "ascii", "_byte", "_char", "_converted", "_table")

    def __init__(self, text: str, mapped: str | None = None):
        self.text = text
        source = text if mapped is None else mapped
        self.ascii = source.isascii()
        self.data = source.encode("utf-8")
        self._byte = 0
        self._char = 0
        self._converted = 0
        self._table: Any = None

    def spans(self, raw: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """RE2's byte spans as str spans (matches come in increasing order)."""
        if self.ascii:
            return raw
        table = self._table
        if table is None:
            self._converted += 1
            if self._converted > _TABLE_AFTER:
                table = self._table = _char_offsets(self.data)
        if table is not None:
            return [(table[a], table[b]) if a >= 0 else _NO_SPAN for a, b in raw]
        chars = {-1: -1}
        for offset in sorted({o for span in raw for o in span if o >= 0}):
            if offset < self._byte:
                self._byte, self._char = 0, 0
            self._char += _re2.BytesToCharLen(self.data, self._byte, offset)
            self._byte = offset
            chars[offset] = self._char
        return [(chars[a], chars[b]) for a, b in raw]

    def next_char(self, offset: int) -> int:
        """The byte offset of the character after the one at byte ``offset``."""
        lead = self.data[offset]
        return offset + (1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4)


class Regex:
    """A compiled pattern with ``re.Pattern``'s methods (str patterns and texts)."""

    def __init__(self, pattern: str, flags: int = 0):
        if not isinstance(pattern, str):
            raise TypeError("pattern must be a string")
        self.pattern = pattern
        self._python = re.compile(pattern, flags)  # re's errors, groups and names
        self.flags = self._python.flags
        self.groups = self._python.groups
        self.groupindex = dict(self._python.groupindex)
        self._programs: list[Any] = [None, None]  # for "$" as \\z, and as (?m:$)
        self._probes: list[Any] = [None, None]    # the same, leftmost-longest
        try:
            parsed = _parser.parse(pattern, flags)
            self._translation: _Translation | None = _Translation(parsed)
            self._programs[0] = _re2_program(self._translation.dollar_end)
            self._prefers_empty = parsed.getwidth()[0] == 0 and _prefers_empty(parsed)
        except (_Unsupported, RecursionError):
            self._translation = None
            self._prefers_empty = False

    @property
    def uses_re2(self) -> bool:
        """Whether RE2 runs this pattern (for texts that need no ``re``, see module doc)."""
        return self._translation is not None

    def __repr__(self) -> str:
        engine = "re2" if self.uses_re2 else "re"
        return f"<Regex {self.pattern!r} on {engine}>"

    # engine choice

    def _prepare(self, text: str) -> tuple[Any, _Text] | None:
        """The RE2 variant and the prepared text, or None when ``re`` must run."""
        tr = self._translation
        if tr is None:
            return None
        if not isinstance(text, str):
            raise TypeError(f"expected string or bytes-like object, got {type(text).__name__!r}")
        if tr.uses_boundary and not text.isascii() or tr.uses_non_boundary and not text:
            return None
        variant = 0
        if tr.uses_dollar and text.endswith("\n"):
            if text.find("\n") != len(text) - 1:
                return None
            variant = 1
        try:
            self._program(variant)
        except _Unsupported:
            return None
        try:
            prepared = _Text(text)
        except UnicodeEncodeError:  # lone surrogates: U+FFFD behaves the same, unless named
            if tr.touches_surrogates:
                return None
            prepared = _Text(text, text.translate(_SURROGATE_MAP))
        return variant, prepared

    def _program(self, variant: int, longest: bool = False) -> Any:
        cache = self._probes if longest else self._programs
        if cache[variant] is None:
            tr = self._translation
            assert tr is not None
            cache[variant] = _re2_program(tr.dollar_line if variant else tr.dollar_end, longest)
        return cache[variant]

    def _iter_spans(self, variant: int, prepared: _Text) -> Iterator[list[tuple[int, int]]]:
        """The spans of every match, found as ``re.finditer`` finds them."""
        match = self._program(variant).Match
        unanchored = _ANCHOR.UNANCHORED
        data = prepared.data
        size = len(data)
        pos = 0
        while pos <= size:
            raw = match(unanchored, data, pos, size)
            start, end = raw[0]
            if start < 0:
                return
            yield prepared.spans(raw)
            if end == start:
                if end >= size:
                    return
                if self._prefers_empty and self._nonempty_at(variant, prepared, end):
                    raise _Diverges
                pos = prepared.next_char(end)
            else:
                pos = end

    def _nonempty_at(self, variant: int, prepared: _Text, pos: int) -> bool:
        try:
            probe = self._program(variant, longest=True)
        except _Unsupported:
            raise _Diverges from None
        start, end = probe.Match(_ANCHOR.ANCHOR_START, prepared.data, pos, len(prepared.data))[0]
        return start >= 0 and end > pos

    # re.Pattern's methods

    def _anchored(self, text: str, anchor: Any) -> Match | None:
        prepared = self._prepare(text)
        if prepared is None:
            m = (self._python.match if anchor is _ANCHOR.ANCHOR_START else
                 self._python.fullmatch if anchor is _ANCHOR.ANCHOR_BOTH else self._python.search)(text)
            return None if m is None else Match(self, text, [m.span(i) for i in range(self.groups + 1)])
        variant, prep = prepared
        raw = self._program(variant).Match(anchor, prep.data, 0, len(prep.data))
        return None if raw[0][0] < 0 else Match(self, text, prep.spans(raw))

    def search(self, text: str) -> Match | None:
        return self._anchored(text, _ANCHOR.UNANCHORED)

    def match(self, text: str) -> Match | None:
        return self._anchored(text, _ANCHOR.ANCHOR_START)

    def fullmatch(self, text: str) -> Match | None:
        return self._anchored(text, _ANCHOR.ANCHOR_BOTH)

    def finditer(self, text: str) -> Iterator[Match]:
        return iter([Match(self, text, spans) for spans in self._all(text)])

    def _all(self, text: str, limit: int = 0) -> list[list[tuple[int, int]]]:
        """The spans of every match (the first ``limit`` when > 0), as ``re`` finds them."""
        out: list[list[tuple[int, int]]] = []
        prepared = self._prepare(text)
        if prepared is not None:
            try:
                for spans in self._iter_spans(*prepared):
                    out.append(spans)
                    if limit and len(out) >= limit:
                        break
                return out
            except _Diverges:
                out = []
        width = range(self.groups + 1)
        for m in self._python.finditer(text):
            out.append([m.span(i) for i in width])
            if limit and len(out) >= limit:
                break
        return out

    def findall(self, text: str) -> list[Any]:
        all_spans = self._all(text)
        if self.groups == 0:
            return [text[s[0][0]:s[0][1]] for s in all_spans]
        if self.groups == 1:
            return [text[s[1][0]:s[1][1]] for s in all_spans]  # an unset group: (-1, -1) -> ""
        return [tuple(text[a:b] for a, b in s[1:]) for s in all_spans]

    def sub(self, repl: Any, text: str, count: int = 0) -> str:
        return self.subn(repl, text, count)[0]

    def subn(self, repl: Any, text: str, count: int = 0) -> tuple[str, int]:
        if count < 0:
            return text, 0
        parts = None if callable(repl) else _parse_template(repl, self.groups, self.groupindex)
        pieces: list[str] = []
        last = 0
        matches = self._all(text, count)
        for spans in matches:
            start, end = spans[0]
            pieces.append(text[last:start])
            if parts is None:
                pieces.append(repl(Match(self, text, spans)))
            else:
                for part in parts:
                    if isinstance(part, str):
                        pieces.append(part)
                    else:
                        a, b = spans[part]
                        pieces.append(text[a:b] if a >= 0 else "")
            last = end
        pieces.append(text[last:])
        return "".join(pieces), len(matches)

    def split(self, text: str, maxsplit: int = 0) -> list[Any]:
        if maxsplit < 0:
            return [text]
        pieces: list[Any] = []
        last = 0
        for spans in self._all(text, maxsplit):
            start, end = spans[0]
            pieces.append(text[last:start])
            pieces.extend(None if a < 0 else text[a:b] for a, b in spans[1:])
            last = end
        pieces.append(text[last:])
        return pieces


_TABLE_AFTER = 16  # matches converted one by one before a text gets an offset table
_CHAR_STARTS = bytes(0 if 0x80 <= b < 0xC0 else 1 for b in range(256))


def _char_offsets(data: bytes) -> array.array:
    """For each byte offset in ``data`` (and its end), the str offset it falls at."""
    table = array.array("I", [0])
    table.extend(itertools.accumulate(data.translate(_CHAR_STARTS)))
    return table


_SURROGATE_MAP = {c: _REPLACEMENT for c in range(_SURROGATES[0], _SURROGATES[1] + 1)}


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile(pattern: str, flags: int) -> Regex:
    return Regex(pattern, flags)


def compile(pattern: str, flags: int = 0) -> Regex:
    """A compiled pattern (cached); raises ``re.error`` as ``re.compile`` does."""
    return _compile(pattern, int(flags))


def search(pattern: str, text: str, flags: int = 0) -> Match | None:
    return compile(pattern, flags).search(text)


def match(pattern: str, text: str, flags: int = 0) -> Match | None:
    return compile(pattern, flags).match(text)


def fullmatch(pattern: str, text: str, flags: int = 0) -> Match | None:
    return compile(pattern, flags).fullmatch(text)


def finditer(pattern: str, text: str, flags: int = 0) -> Iterator[Match]:
    return compile(pattern, flags).finditer(text)


def findall(pattern: str, text: str, flags: int = 0) -> list[Any]:
    return compile(pattern, flags).findall(text)


def sub(pattern: str, repl: Any, text: str, count: int = 0, flags: int = 0) -> str:
    return compile(pattern, flags).sub(repl, text, count)


def split(pattern: str, text: str, maxsplit: int = 0, flags: int = 0) -> list[Any]:
    return compile(pattern, flags).split(text, maxsplit)
