"""FormatText's Jinja2 sandbox: costly templates stop fast, ordinary ones render unchanged."""

import time

import pytest
from jinja2 import BaseLoader
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from nodetool_gateway.engine.library import text as T
from nodetool_gateway.engine.library._jinja import MAX_TEMPLATE_OUTPUT, render_jinja

VARIABLES = {"items": list(range(1000)), "big": "a" * 1_000_000, "n": 2**50_000, "m": 3**30_000}

# Each stalled the node for seconds to forever before (measured: the loops, the macro,
# the namespace value and the division loop did not finish within 20 s; lipsum took 12 s).
COSTLY = [
    ("{{ 'a' * 10**9 }}", "too large"),
    ("{{ 9**(9**9) }}", "too large"),
    ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "too much work"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{{ loop.index }}{% endfor %}{% endfor %}",
     "too much work"),
    ("{% for i in items %}{% for j in items %}{% for k in items %}{% endfor %}{% endfor %}{% endfor %}",
     "too much work"),
    ("{% for i in range(100000) %}{% for j in range(100000) if false %}{% endfor %}{% endfor %}",
     "too much work"),
    ("{% for i in range(100000) recursive %}{% if loop.depth < 3 %}{{ loop(range(100000)) }}"
     "{% endif %}{% endfor %}", "too much work"),
    ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}", "too much work"),
    ("{% for i in range(100000) %}{% set x = n // m %}{% endfor %}", "too much work"),
    ("{{ big|replace('a', big) }}", "too large"),
    ("{{ ('\n' * 1000000)|indent(1000000) }}", "too large"),
    ("{% set s = big %}{% set s = s ~ s %}{{ s|length }}", "too large"),
    ("{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}"
     "{{ ns.a }}", "too large"),
    ("{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}"
     "{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}", "too large"),
    ("{% set ns = namespace(a=[1]) %}{% for i in range(60) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}"
     "{{ ns.a|tojson }}", "too large"),
    ("{{ big|wordwrap(1) }}", "too much work"),
    ("{{ range(100000)|map('string')|join(big) }}", "too large"),
    ("{{ big.join(range(100000)|map('string')) }}", "too large"),
    ("{{ lipsum(100000) }}", "too large"),
    ("{% for i in range(100000) %}{{ big }}{% endfor %}", "output too large"),
    ("{{ big|sort }}", "too much work"),
    ("{{ '{:>1000000000}'.format(1) }}", "too large"),
    ("{{ '{:>{w}}'.format(1, w=10**9) }}", "too large"),
    ("{{ ('\t' * 1000000).expandtabs(1000000) }}", "too large"),
    ("{{ ([[1] * 1000] * 1000)|sum(start=[]) }}", "too much work"),
    ("{{ [1]|batch(10**9, 'x')|list }}", "too large"),
    ("{% set l = [1] %}{% for i in range(30) %}{{ l.extend(l) }}{% endfor %}", "too large"),
    ("{{ 'x' " + "~ 'x' " * 40_000 + "}}", "too long"),
]


@pytest.mark.parametrize("template, message", COSTLY)
def test_costly_templates_fail_fast(template, message):
    """Refuses a costly template with an error naming the limit, within about a second."""
    start = time.process_time()
    with pytest.raises((SecurityError, OverflowError), match=message):
        render_jinja(template, dict(VARIABLES))
    # CPU seconds, generous for slow machines: each ran for seconds to forever before.
    assert time.process_time() - start < 3


async def test_format_text_reports_the_limit():
    """Fails FormatText with "Template error: ..." naming the work limit."""
    node = T.FormatText(template="{% for i in range(100000) %}{% for j in range(100000) %}"
                                 "{% endfor %}{% endfor %}")
    with pytest.raises(ValueError, match="Template error: template takes too much work"):
        await node.process(None)


async def test_format_text_with_many_placeholders_is_bounded():
    """Lowercases many placeholders without scanning the template once per placeholder."""
    node = T.FormatText(template="{{A}}" * 9000, dynamic_properties={"a": "x"})
    start = time.process_time()
    assert await node.process(None) == "x" * 9000
    assert time.process_time() - start < 3
    with pytest.raises(ValueError, match="too long"):
        await T.FormatText(template="{{ A }}" * 20_000).process(None)


def test_output_limit_is_total_not_per_value():
    """Counts every character written, so many medium values add up to the limit."""
    chunk = "b" * 100_000
    loops = MAX_TEMPLATE_OUTPUT // len(chunk)
    template = "{% for i in range(" + str(loops) + ") %}{{ c }}{% endfor %}"
    assert len(render_jinja(template, {"c": chunk})) == MAX_TEMPLATE_OUTPUT
    with pytest.raises(SecurityError, match="output too large"):
        render_jinja(template + "!", {"c": chunk})


ORDINARY = [
    "Hello, {{ name }}!",
    "{{ name|upper }} {{ name|lower|title }} {{ name|length }} {{ missing }}",
    "{% for x in items %}{{ loop.index }}:{{ x }}{% if not loop.last %}, {% endif %}{% endfor %}",
    "{% for x in items if x is odd %}{{ x }}{% else %}none{% endfor %}",
    "{% for k, v in d|dictsort %}{{ k }}={{ v }};{% endfor %}",
    "{% macro li(x) %}<li>{{ x }}</li>{% endmacro %}{% for x in items %}{{ li(x) }}{% endfor %}",
    "{% set total %}{% for x in items %}{{ x }}{% endfor %}{% endset %}[{{ total }}]",
    "{% set ns = namespace(s=0) %}{% for x in items %}{% set ns.s = ns.s + x %}{% endfor %}{{ ns.s }}",
    "{{ 'a' ~ 1 ~ none ~ [1, 2] }} {{ items|join(', ') }} {{ items|sum }} {{ items|map('string')|join }}",
    "{{ 'x=%05.1f'|format(3.14159) }} {{ '{} and {:>5}'.format('a', 'b') }} {{ '%s-%s' % (1, 2) }}",
    "{{ 2**10 }} {{ 7 // 2 }} {{ 7 / 2 }} {{ 7 % 3 }} {{ -3 - 4 }} {{ 10**30 * 10**30 }}",
    "{{ items == [1, 2, 3] }} {{ 2 in items }} {{ 'ell' in name }} {{ name != 'x' }} {{ 1 < 2 < 3 }}",
    "{{ text|replace('o', '0') }} {{ text|wordwrap(5) }} {{ text|indent(2, true) }} {{ text|truncate(9) }}",
    "{{ text|center(20) }}|{{ text.split()|reverse|join(' ') }}|{{ text|wordcount }}|{{ text|striptags }}",
    "{% for row in tree recursive %}{{ row.name }}{% if row.children %}({{ loop(row.children) }}){% endif %}"
    "{% endfor %}",
    "{{ items|batch(2)|list }} {{ items|slice(2)|list }} {{ items|unique|list }} {{ items|sort(reverse=true) }}",
    "{{ d|tojson }} {{ d.items()|list }} {{ d.get('a') }} {{ text.upper().center(15, '*') }}",
    "{% filter upper %}shout {{ name }}{% endfilter %} {{ lipsum(1, false, 5, 9)|length > 0 }}",
    "{{ range(5)|list }} {{ range(3)|map('string')|join('-') }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }}",
    "{% raw %}{{ not rendered }}{% endraw %} {# comment #} {{ 'ab' * 3 }} {{ [0] * 3 }} {{ [1] + [2] }}",
]


@pytest.mark.parametrize("template", ORDINARY)
def test_ordinary_templates_render_as_a_plain_sandbox(template):
    """Renders ordinary templates exactly as Jinja2's own SandboxedEnvironment does."""
    variables = {"name": "Ada", "items": [1, 2, 3], "d": {"b": 2, "a": 1},
                 "text": "hello world <b>x</b>",
                 "tree": [{"name": "a", "children": [{"name": "b", "children": []}]}, {"name": "c"}]}
    plain = SandboxedEnvironment(loader=BaseLoader())
    expected = plain.from_string(template).render(**variables)
    assert render_jinja(template, dict(variables)) == expected
