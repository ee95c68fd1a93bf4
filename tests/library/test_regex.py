"""_regex: re's semantics on RE2, and every node that takes a pattern runs in linear time."""

import random
import re
import time

import pytest

from nodetool_gateway.engine.library import _regex
from nodetool_gateway.engine.library import dictionary as D
from nodetool_gateway.engine.library import json as J
from nodetool_gateway.engine.library import list as L
from nodetool_gateway.engine.library import text as T

from .conftest import gen

# Python's re needs hours for each of these (it doubles per character past ~20).
CATASTROPHIC = [
    (r"(a+)+$", "a" * 40 + "b"),
    (r"(x+x+)+y", "x" * 40),
    (r"^(a|aa)+$", "a" * 40 + "b"),
    (r"(\w+\s?)+$", "word " * 20 + "!"),
]
# CPU seconds; a pattern that backtracked would not finish at all (not a speed test).
FAST = 0.5


def _timed(fn):
    start = time.process_time()
    result = fn()
    return result, time.process_time() - start


def _nodes(pattern: str, text: str):
    """Every node that takes a user pattern, each as a coroutine factory."""
    return {
        "ExtractRegex": lambda: T.ExtractRegex(text=text, regex=pattern).process(None),
        "FindAllRegex": lambda: T.FindAllRegex(text=text, regex=pattern, multiline=True).process(None),
        "RegexMatch": lambda: T.RegexMatch(text=text, pattern=pattern).process(None),
        "RegexMatch(None)": lambda: T.RegexMatch(text=text, pattern=pattern, group=None).process(None),
        "RegexReplace": lambda: T.RegexReplace(text=text, pattern=pattern, replacement="<\\1>").process(None),
        "RegexSplit": lambda: T.RegexSplit(text=text, pattern=pattern).process(None),
        "RegexValidate": lambda: T.RegexValidate(text=text, pattern=pattern).process(None),
        "FilterRegexString": lambda: gen(T.FilterRegexString.model_construct(
            value=text, pattern=pattern, full_match=False)),
        "FilterRegex": lambda: L.FilterRegex(values=[text], pattern=pattern, full_match=True).process(None),
        "FilterDictsRegex": lambda: L.FilterDictsRegex(values=[{"k": text}], key="k", pattern=pattern).process(None),
        "FilterDictRegex": lambda: gen(D.FilterDictRegex.model_construct(
            value={"k": text}, key="k", pattern=pattern, full_match=False)),
        "ValidateJSON": lambda: J.ValidateJSON(
            data={"s": text, text: 1},
            json_schema={"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}},
                         "patternProperties": {pattern: {"type": "integer"}},
                         "additionalProperties": False}).process(None),
    }


@pytest.mark.parametrize("pattern, text", CATASTROPHIC)
async def test_catastrophic_patterns_are_linear_in_every_node(pattern, text):
    """Runs a catastrophic-backtracking pattern in each regex node within milliseconds."""
    for name, run in _nodes(pattern, text).items():
        start = time.process_time()
        await run()
        assert time.process_time() - start < FAST, name


def test_builtin_schema_pattern_is_linear():
    """Matches a schema pattern in the built-in JSON Schema subset through RE2."""
    ok, seconds = _timed(lambda: J._mini_validate("a" * 40 + "b", {"type": "string", "pattern": r"(a+)+$"}))
    assert ok is False and seconds < FAST


@pytest.mark.parametrize("pattern", [p for p, _ in CATASTROPHIC] + [r"\d+", r"(?P<w>\w+)@(\w+)\.com"])
def test_ordinary_and_catastrophic_patterns_run_on_re2(pattern):
    """Compiles patterns RE2 can express to RE2."""
    assert _regex.compile(pattern).uses_re2


@pytest.mark.parametrize("pattern, text, expected", [
    (r"(\w)\1", "aabbcd", ["a", "b"]),
    (r"a(?=b)", "abac", ["a"]),
    (r"(?<=x)y", "xy y", ["y"]),
    (r"(?P<q>['\"]).*?(?P=q)", "say 'hi' \"yo\"", ["'", '"']),
])
def test_backreferences_and_lookaround_fall_back_to_re(pattern, text, expected):
    """Runs backreferences and lookaround on Python's re, with re's results."""
    compiled = _regex.compile(pattern)
    assert not compiled.uses_re2
    assert compiled.findall(text) == expected == re.findall(pattern, text)


async def test_backreference_in_a_node():
    """Finds doubled letters with a backreference in RegexMatch."""
    assert await T.RegexMatch(text="aabbcd", pattern=r"(\w)\1").process(None) == ["aa", "bb"]


SAME_AS_RE = [
    # (pattern, flags, text)
    (r"\d+", 0, "a1b22c333"),
    (r"([a-z])(\d)", 0, "a1 b2 c"),
    (r"(?P<key>\w+)=(?P<val>[^;]*)", 0, "a=1;b=;c=3"),
    (r"(a)|(b)", 0, "abc"),
    (r"x*", 0, "axbxxc"),
    (r"a*?", 0, "aaa"),
    (r"|a", 0, "aa"),
    (r"\b\w+\b", 0, "héllo wörld, 42 ünïcode"),
    (r"\w+", 0, "héllo wörld_x ٣٤ 漢字"),
    (r"\d+", 0, "١٢٣ and 456"),
    (r"\s+", 0, "a\u00a0b\u2003c\x1cd\ve"),
    (r"[^\W\d]+", 0, "abc123_déf"),
    (r"[^\S\n]+", 0, "a \t\nb\u3000c"),
    (r"[\w.-]+@[\w-]+\.\w+", 0, "mail ann.b@ex-ample.org now"),
    (r"^\w+$", 0, "abc\n"),
    (r"^\w+$", 0, "abc\ndef\n"),
    (r"^\w+$", re.M, "abc\ndef\n"),
    (r"a.c", re.S, "a\nc abc"),
    (r"HELLO", re.I, "hello Hello"),
    (r"k", re.I, "K k \u212a"),
    (r"(?i:a)b", 0, "Ab AB ab"),
    (r"""(?x) \d+  # digits
         [a-z]""", 0, "12a 3b"),
    (r"\Aab|cd\Z", 0, "abcd"),
    (r"\d{2,3}", 0, "1234567"),
    (r"(\d+)-(\d+)?", 0, "1-2 3- 4"),
    (r"\w+", re.A, "héllo"),
    (r"", 0, "abc"),
    (r"\B", 0, ""),
    (r"[\x00-\x7f]+", 0, "abc\ud800def"),
    (r".", 0, "a\ud800b"),
]


@pytest.mark.parametrize("pattern, flags, text", SAME_AS_RE)
def test_same_results_as_re(pattern, flags, text):
    """Gives re's results for search, match, fullmatch, findall, finditer, sub and split."""
    mine, theirs = _regex.compile(pattern, flags), re.compile(pattern, flags)

    def m(x):
        return None if x is None else (x.span(), x.group(), x.groups(), x.groupdict())

    assert m(mine.search(text)) == m(theirs.search(text))
    assert m(mine.match(text)) == m(theirs.match(text))
    assert m(mine.fullmatch(text)) == m(theirs.fullmatch(text))
    assert mine.findall(text) == theirs.findall(text)
    assert [m(x) for x in mine.finditer(text)] == [m(x) for x in theirs.finditer(text)]
    assert mine.split(text) == theirs.split(text)
    assert mine.split(text, 1) == theirs.split(text, 1)
    assert mine.sub("[\\g<0>]", text) == theirs.sub("[\\g<0>]", text)
    assert mine.subn("-", text, count=2) == theirs.subn("-", text, count=2)
    assert mine.sub(lambda x: x.group().upper(), text) == theirs.sub(lambda x: x.group().upper(), text)


@pytest.mark.parametrize("template", [
    r"<\1>", r"\g<1>\g<2>", r"\g<key>:\g<val>", r"\g<0>", r"\n\t\\", r"x\&y", r"\101\0", r"\10",
])
def test_sub_templates_as_re(template):
    """Expands \\1, \\g<name>, \\g<0>, escapes and octals in replacements as re.sub does."""
    pattern, text = r"(?P<key>\w)(?P<val>\d)", "a1 b2 c"
    try:
        expected = re.sub(pattern, template, text)
    except re.error as exc:
        with pytest.raises(re.error, match=re.escape(exc.msg)):
            _regex.sub(pattern, template, text)
        return
    assert _regex.sub(pattern, template, text) == expected


@pytest.mark.parametrize("template, error", [
    (r"\3", re.error), (r"\g<nope>", IndexError), (r"\x", re.error), ("\\", re.error), (r"\g<1", re.error),
])
def test_bad_templates_raise_like_re(template, error):
    """Refuses bad group references and escapes in replacements as re.sub does."""
    with pytest.raises(error):
        re.sub(r"(a)(b)", template, "ab")
    with pytest.raises(error):
        _regex.sub(r"(a)(b)", template, "ab")


@pytest.mark.parametrize("pattern", ["(", "[a-", "a{2,1}", "(?P<1>a)", "*"])
def test_invalid_patterns_raise_re_error(pattern):
    """Raises re.error with re's message for a pattern re rejects."""
    with pytest.raises(re.error) as expected:
        re.compile(pattern)
    with pytest.raises(re.error, match=re.escape(str(expected.value))):
        _regex.compile(pattern)


def test_groups_and_match_object():
    """Exposes groups by number and name, spans and groupdict as re.Match does."""
    m = _regex.search(r"(?P<user>\w+)@(?P<host>\w+)?", "to: ann@ now")
    assert m.group() == "ann@" and m.group(1) == m["user"] == "ann" and m.group("host") is None
    assert m.groups() == ("ann", None) and m.groups("") == ("ann", "")
    assert m.groupdict() == {"user": "ann", "host": None}
    assert m.span() == (4, 8) and m.start(1) == 4 and m.end("user") == 7 and m.span(2) == (-1, -1)
    assert m.group(0, 1) == ("ann@", "ann")
    with pytest.raises(IndexError):
        m.group(3)


def test_non_ascii_offsets():
    """Reports str offsets, not UTF-8 byte offsets, for text past ASCII."""
    text = "ünïcödé → 😀 mark: x1 " * 50
    assert [m.span() for m in _regex.finditer(r"\w\d", text)] == \
        [m.span() for m in re.finditer(r"\w\d", text)]


def test_non_string_text_raises_type_error():
    """Raises TypeError for a text that is not a string, as re does."""
    with pytest.raises(TypeError):
        _regex.search("x", 1)


def test_random_patterns_agree_with_re():
    """Agrees with re on random patterns, flags and texts (a fixed seed)."""
    rnd = random.Random(20251105)
    atoms = ["a", "b", ".", r"\d", r"\w", r"\s", r"\W", r"[ab]", r"[^a]", r"[^\W\d]", r"[\Wa]",
             "é", r"\n", "^", "$", r"\b", r"\B", r"\A", r"\Z", "(?:)", "K"]

    def pattern(depth=0):
        r = rnd.random()
        if depth > 3 or r < 0.35:
            return rnd.choice(atoms)
        if r < 0.55:
            return pattern(depth + 1) + pattern(depth + 1)
        if r < 0.65:
            return pattern(depth + 1) + "|" + pattern(depth + 1)
        if r < 0.8:
            return "(" + pattern(depth + 1) + ")"
        return "(?:" + pattern(depth + 1) + ")" + rnd.choice(["*", "+", "?", "{1,3}", "*?", "??"])

    chars = "abx1 \n\téÉ_K٣"
    checked = 0
    for _ in range(600):
        p, flags = pattern(), rnd.choice([0, re.I, re.M, re.S, re.A])
        try:
            theirs = re.compile(p, flags)
        except re.error:
            continue
        mine = _regex.compile(p, flags)
        for _ in range(3):
            text = "".join(rnd.choice(chars) for _ in range(rnd.randrange(10)))
            assert mine.findall(text) == theirs.findall(text), (p, flags, text)
            assert mine.split(text) == theirs.split(text), (p, flags, text)
            assert mine.sub("<\\g<0>>", text) == theirs.sub("<\\g<0>>", text), (p, flags, text)
            assert (mine.match(text) and mine.match(text).span()) == \
                (theirs.match(text) and theirs.match(text).span()), (p, flags, text)
            checked += 1
    assert checked > 1000


def test_many_matches_stay_fast():
    """Finds 100,000 matches in a 500 kB text well within a second of CPU."""
    text = "abc déf, " * 50_000
    found, seconds = _timed(lambda: _regex.findall(r"\w+", text))
    assert len(found) == 100_000 and seconds < 2
