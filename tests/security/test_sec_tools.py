"""Issue 10, item 4: every tool is bounded (findings D6-D10, and the result-size half of D13).

A built-in tool runs on the engine's thread, where the spell's time limit cannot
interrupt it, and allocates in Python, where the spell's memory limit does not
count. So each tool refuses work whose cost is known up front and checks the
spell's deadline while it works (tools/bounds.py):

D6  calculator: integer powers, products, shifts and factorials whose result would
    pass 16,384 bits are refused before they run (2002, "too large to compute");
    an integer result past int64 is 2002 with a message, never OverflowError.
D7  template_processor: loops, macros and recursive loops stop at the spell's time
    limit (2008); repeated/padded/formatted/joined text and lists that could not be
    held are refused (4005), big integers as in the calculator, range() and list
    repetition at 100,000 items, templates at 100,000 tokens (compiling them is
    not interruptible).
D8  yaml_processor: aliases count as what they repeat (billion laughs: 4005 at once),
    merge keys that multiply are refused, a recursive alias is 2002.
D9  regexes run on `regex` with a timeout: a pattern that backtracks without end is
    stopped (2008, "took too long") at the spell's limit or after 5 s.
D10 every file a tool reads and every inline text it parses is held to
    tools.max_file_size (2002, naming the key to raise).
D13 a result the spell could not hold is refused (4005) before it is built.

Each case runs in the real CLI with a small time limit, so a regression fails on
the assertions (the CLI's own watchdog ends a hung run with another message)
instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cli

RUNNER = """
local cases = JSON.decode([==[%s]==])
local out = {}
for i, c in ipairs(cases) do
  local input = c.input
  for k, r in pairs(c.rep or {}) do input[k] = (r[3] or "") .. string.rep(r[1], r[2]) .. (r[4] or "") end
  local ok, e = pcall(function() return Tools.get(c.tool):execute(input).result end)
  if ok then
    out[i] = { ok = true, value = e }
  elseif type(e) == "table" then
    out[i] = { ok = false, code = e.code, message = e.message }
  else
    out[i] = { ok = false, code = 0, message = tostring(e) }
  end
end
print(JSON.encode(out))
"""


def write_config(project: Path, limit: str = "3s", memory: str = "64MB", extra: str = "") -> None:
    (project / "llmspell.toml").write_text(
        f'[security]\nmax_execution_time = "{limit}"\nmax_memory = "{memory}"\n'
        f'[storage]\nbackend = "memory"\n{extra}')


def run(project: Path, code: str, timeout: float = 90) -> tuple[Any, float]:
    (project / "spell.lua").write_text(code)
    t0 = time.monotonic()
    p = cli("run", "spell.lua", cwd=project, timeout=timeout)
    return p, time.monotonic() - t0


def cases(project: Path, items: list[dict[str, Any]], **config: Any) -> tuple[list[dict[str, Any]], float]:
    """Run every case (tool, input, rep = {field = {text, count, prefix, suffix}}) in one spell."""
    write_config(project, **config)
    p, took = run(project, RUNNER % json.dumps(items))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert len(out) == len(items), out
    return out, took


def refused(r: dict[str, Any], code: int, *needles: str) -> None:
    assert r["ok"] is False and r["code"] == code, r
    for n in needles:
        assert n in r["message"], r
    for raw in ("OverflowError", "MemoryError", "RecursionError", "TypeError", "Traceback"):
        assert raw not in r["message"], r


def one(project: Path, code: str, limit: str = "2s", **config: Any) -> tuple[Any, float]:
    """A spell whose failure mode is a hang: its error must be the tool's own, in time."""
    write_config(project, limit=limit, **config)
    return run(project, code, timeout=60)


# ---- D6: calculator -----------------------------------------------------------------

HUGE = ["pow(10, 10**8)", "factorial(10**6)", "10**10**8", "10 ^ 10 ^ 8", "pow(2, 2**40)", "2**2**2**2**2",
        "(10**4000)**5", "2**16000 * 2**16000", "1 << 10**9", "factorial(10**400)", "pow(3, 2**5000, 7)",
        "9 ** 9 ** 9", "pow(pow(10, 4000), 5)", "2 ** (10**400)", "(-3) ** 2**70"]


@pytest.mark.timeout(120)
def test_d6_calculator_refuses_huge_integer_work_up_front(project):
    items = [{"tool": "calculator", "input": {"expression": e}} for e in HUGE]
    items += [{"tool": "calculator", "input": {"expression": e}}
              for e in ("2**63", "factorial(25)", "-(2**63) - 1", "'x'.ljust(10**9)", "round(5, -10**9)",
                        "2**62", "2.0**63", "pow(3, 10**9, 7)", "float(factorial(25))", "-(2**63)")]
    out, took = cases(project, items)
    for e, r in zip(HUGE, out):
        refused(r, 2002, "is too large to compute", "digits (the limit is 4,933)")
    for r in out[len(HUGE):len(HUGE) + 3]:
        refused(r, 2002, "too large for a spell's integers (at most 2^63 - 1)")
    refused(out[len(HUGE) + 3], 2002, "Attribute is not available")
    assert [r["value"] for r in out[len(HUGE) + 4:]] == [0, 2**62, 2.0**63, 4, 1.5511210043330986e25, -(2**63)]
    assert took < 15, took          # each refusal is instant; pow(10, 10**8) alone took > 60 s


# ---- D7: template_processor ------------------------------------------------------------

LOOPS = {
    "nested ranges": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "nested lists": "{% for x in xs %}{% for y in xs %}{% for z in xs %}{% endfor %}{% endfor %}{% endfor %}",
    "nested strings": '{% for a in "x" * 90000 %}{% for b in "y" * 90000 %}{% endfor %}{% endfor %}',
    "exponential macro": "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "loop filter": "{% for i in range(100000) if i is odd %}{% for j in range(100000) if j %}{% endfor %}{% endfor %}",
    "recursive loop": "{% for x in range(100000) recursive %}{% for y in range(100000) %}{% endfor %}{% endfor %}",
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("shape", list(LOOPS))
def test_d7_template_work_stops_at_the_spell_time_limit(project, shape):
    inp = {"template": LOOPS[shape], "variables": {"xs": list(range(2000))}}
    p, took = one(project, f"Tools.get('template_processor'):execute(JSON.decode([==[{json.dumps(inp)}]==]))")
    assert p.returncode == 1
    assert "[2008 Timeout] template_processor: stopped rendering the template: " \
           "spell exceeded security.max_execution_time (2s)" in p.stderr, p.stderr
    assert took < 8, took


TEMPLATES = [
    ("{{ 9**(9**9) }}", 2002, "too large to compute"),
    ("{{ (2**10000) * (2**10000) }}", 2002, "too large to compute"),
    ('{{ "a" * 4000000000 }}', 4005, "a repeated text would be about 4 GB"),
    ('{{ "a" * (10**9) }}', 4005, "a repeated text"),
    ('{{ "a" * 4e9 }}', 2003, "can't multiply sequence by non-int"),
    ("{{ [1] * 1000000000 }}", 2002, "the limit is 100,000"),
    ("{{ range(10**9)|list|length }}", 2002, "the limit is 100,000"),
    ('{{ "a"|center(1000000000) }}', 4005, "a centered text"),
    ('{{ "a".ljust(1000000000) }}', 4005, "a padded text"),
    ('{{ "ab".replace("", "x" * 20000000) }}', 4005, "a replaced text"),
    ('{{ "abc"|replace("", "x" * 20000000) }}', 4005, "a replaced text"),
    ('{{ "x"|indent(1000000000, true) }}', 4005, "an indented text"),
    ('{{ "%1000000000d"|format(1) }}', 4005, "a formatted value"),
    ('{{ "%1000000000d" % 1 }}', 4005, "a formatted value"),
    ('{{ "%*d" % (1000000000, 1) }}', 4005, "a formatted value"),
    ('{{ "{:>1000000000}".format(1) }}', 4005, "a formatted value"),
    ('{{ "{:>{w}}".format(1, w=1000000000) }}', 4005, "a formatted value"),
    ('{{ "".join(["x" * 1000000] * 100) }}', 4005, "a joined text"),
    ('{{ (["x" * 1000000] * 100)|join }}', 4005, "a joined text"),
    ('{% set ns = namespace(s="a") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}', 4005,
     "the text joined with ~"),
    ('{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}', 4005,
     "a list joined with +"),
    ('{% set l = [] %}{% for i in range(100000) %}{{ l.append("x" * 1000000) }}{% endfor %}', 4005,
     "the values stored in lists"),
    ('{% set big = "x" * 1000000 %}{% for i in range(100000) %}{{ big }}{% endfor %}', 4005, "the rendered text"),
    ('{% set big = "x" * 1000000 %}{% set out %}{% for i in range(100000) %}{{ big }}{% endfor %}{% endset %}',
     4005, "the rendered text"),
    ('{% macro m(s) %}{{ s }}{{ s }}{% endmacro %}{{ m(m(m(m(m(m(m(m(m(m("x" * 1000000)))))))))) }}', 4005,
     "the rendered text"),
    ("{{ lipsum(100000) }}", 2002, "lipsum"),
    ("{{ 5|round(-1000000000) }}", 2002, "|round precision"),
    ("{{ [1]|batch(1000000000, 0)|list }}", 2002, "|batch"),
    ("{{ [1]|slice(1000000000)|list }}", 2002, "|slice"),
    ('{{ "a\tb".expandtabs(1000000000) }}', 4005, "tabs expanded"),
    ('{{ {"a": 1}|tojson(indent=1000000) }}', 2002, "|tojson indent"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", 2002, "recurses too deeply"),
    ("{% set l = [1] %}{{ l.append(l) }}{{ l }}", 2002, "contains itself"),
    ("a{{ x }}" * 40000, 2002, "more than 100,000 tokens"),              # compiling would take seconds
]


@pytest.mark.timeout(120)
def test_d7_template_text_lists_and_numbers_are_bounded(project):
    items = [{"tool": "template_processor", "input": {"template": t}} for t, _, _ in TEMPLATES]
    out, took = cases(project, items, limit="20s")
    for (t, code, needle), r in zip(TEMPLATES, out):
        assert r["ok"] is False and r["code"] == code and needle in r["message"], (t, r)
        refused(r, code, needle)
    assert took < 15, took


@pytest.mark.timeout(60)
def test_d7_templates_still_render_as_before(project):
    tpl = ('{% for it in items %}{{ loop.index }}:{{ it.n|upper }}={{ "%.1f"|format(it.p) }}'
           '{{ "," if not loop.last }}{% endfor %} {{ "{:>4}".format(7) }} {{ [1, 2]|join("-") }} '
           '{{ "a" ~ 1 ~ [2] }} {% macro b(x) %}[{{ x }}]{% endmacro %}{{ b("m") }} '
           '{% for n in [[1, [2]], 3] recursive %}{% if n is iterable %}{{ loop(n) }}{% else %}{{ n }}{% endif %}'
           '{% endfor %} {{ range(3)|list }} {{ 2 ** 10 }} {{ "ab" * 2 }} {{ "%s-%s" % (1, 2) }}')
    items = [{"tool": "template_processor", "input": {"template": tpl, "variables": {
        "items": [{"n": "a", "p": 1}, {"n": "b", "p": 2.25}]}}},
        {"tool": "template_processor", "input": {"template": "{{ x }} {{ x ~ 'y' }}", "variables": {"x": "<b>"},
                                                  "options": {"escape_html": True}}}]
    out, _ = cases(project, items)
    assert out[0]["value"] == "1:A=1.0,2:B=2.2    7 1-2 a1[2] [m] 123 [0, 1, 2] 1024 abab 1-2"
    assert out[1]["value"] == "&lt;b&gt; &lt;b&gt;y"


# ---- D8: yaml_processor -----------------------------------------------------------------

def laughs(levels: int, fan: int) -> str:
    doc = "l0: &l0 [" + ", ".join(["lol"] * fan) + "]\n"
    for i in range(1, levels):
        doc += f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * fan) + "]\n"
    return doc


MERGE = "m0: &m0 {k0: 1, k1: 2}\n" + "".join(
    f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}, *m{i - 1}, *m{i - 1}], x{i}: 1}}\n" for i in range(1, 30))
NESTED_ANCHORS = "a: &a {x: &x [1, 2, 3], y: *x}\n" + "".join(
    f"a{i}: &a{i} {{p: *{'a' if i == 1 else f'a{i - 1}'}, q: *{'a' if i == 1 else f'a{i - 1}'}}}\n"
    for i in range(1, 60))


@pytest.mark.timeout(60)
def test_d8_yaml_aliases_count_as_what_they_expand_to(project):
    (project / "laughs.yaml").write_text(laughs(10, 10))
    items = [
        {"tool": "yaml_processor", "input": {"content": laughs(10, 10)}},           # the billion laughs
        {"tool": "yaml_processor", "input": {"path": "laughs.yaml"}},
        {"tool": "yaml_processor", "input": {"operation": "validate", "content": laughs(10, 10), "schema": {}}},
        {"tool": "yaml_processor", "input": {"content": laughs(64, 2)}},            # deep instead of wide
        {"tool": "yaml_processor", "input": {"content": NESTED_ANCHORS}},           # mappings, nested anchors
        {"tool": "yaml_processor", "input": {"content": MERGE}},                    # merge keys that multiply
        {"tool": "yaml_processor", "input": {"content": "a: &a [*a]\n"}},           # an alias to itself
        {"tool": "yaml_processor", "input": {"content": "a: &a {b: *a}\n"}},
        {"tool": "yaml_processor", "input": {"content": "base: &b {x: 1, y: 2}\nitem: {<<: *b, z: 3}\n"
                                                        "list: [*b, *b]\nwhen: 2001-01-01\n"}},
    ]
    out, took = cases(project, items)
    for r in out[:6]:
        refused(r, 4005, "more than the spell can hold", "security.max_memory = 64 MB")
    refused(out[5], 4005, "merged with <<")
    for r in out[6:8]:
        refused(r, 2002, "contains itself")
    assert out[8]["value"] == {"base": {"x": 1, "y": 2}, "item": {"x": 1, "y": 2, "z": 3},
                               "list": [{"x": 1, "y": 2}, {"x": 1, "y": 2}], "when": "2001-01-01"}
    assert took < 10, took


@pytest.mark.timeout(60)
def test_d8_a_big_yaml_stops_at_the_time_limit(project):
    doc = "".join(f"k{i}: [a, b, {{x: {i}, y: s{i}}}]\n" for i in range(150_000))    # ~5 MB, parsed in Python
    (project / "big.yaml").write_text(doc)
    p, took = one(project, "Tools.get('yaml_processor'):execute({ path = 'big.yaml' })", limit="1s",
                  memory="1GB")
    assert p.returncode == 1
    assert "[2008 Timeout] yaml_processor: stopped: spell exceeded security.max_execution_time (1s)" in p.stderr, \
        p.stderr
    assert took < 6, took


# ---- D9: regexes ------------------------------------------------------------------------

CATASTROPHIC = [("(a|aa)+$", "a" * 60 + "!"), ("(x+x+)+y", "x" * 5000), ("(\\w|\\w\\w)+$", "a" * 60 + "!")]


@pytest.mark.timeout(60)
def test_d9_the_findings_regex_finishes(project):
    """`^(a+)+$` on "a"*40.."!" hung in `re`; `regex` answers at once."""
    rep = {"text": ["a", 40, "", "!"]}
    items = [{"tool": "text_manipulator", "input": {"text": "", "operation": op}, "rep": rep}
             for op in ({"replace": {"pattern": "^(a+)+$", "replacement": "x"}}, {"extract": "^(a+)+$"},
                        {"match": {"pattern": "(a+)+b", "flags": "gi"}})]
    out, took = cases(project, items)
    assert [r["value"] for r in out] == ["a" * 40 + "!", {}, {}]
    assert took < 8, took


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pattern,text,op", [(*c, op) for c, op in zip(CATASTROPHIC, ("replace", "extract", "match"))])
def test_d9_a_runaway_regex_is_stopped_at_the_spell_limit(project, pattern, text, op):
    inp = {"text": text, "operation": {op: {"pattern": pattern, "replacement": "-"}}}
    p, took = one(project, f"Tools.get('text_manipulator'):execute(JSON.decode([==[{json.dumps(inp)}]==]))")
    assert p.returncode == 1
    assert f"[2008 Timeout] text_manipulator: the regex {pattern!r} took too long on this text" in p.stderr, \
        p.stderr
    assert "the spell's time limit: spell exceeded security.max_execution_time (2s)" in p.stderr
    assert took < 8, took


@pytest.mark.timeout(60)
def test_d9_a_runaway_regex_is_stopped_after_five_seconds_in_a_long_spell(project):
    inp = {"text": "a" * 60 + "!", "operation": {"extract": "(a|aa)+$"}}
    p, took = one(project, f"""
        local ok, e = pcall(function() Tools.get('text_manipulator'):execute(JSON.decode([==[{json.dumps(inp)}]==])) end)
        print(e.code, e.message)""", limit="60s")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("2008\ttext_manipulator: the regex '(a|aa)+$' took too long on this text "
                               "(stopped after 5s)"), p.stdout
    assert took < 15, took


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tool,inp", [
    ("json_processor", {"operation": "validate", "input": {"s": "a" * 60 + "!"},
                        "schema": {"properties": {"s": {"pattern": "(a|aa)+$"}}}}),
    ("json_processor", {"operation": "validate", "input": {"a" * 60 + "!": 1},
                        "schema": {"patternProperties": {"(a|aa)+$": {}}}}),
    ("json_processor", {"operation": "validate", "input": {"a" * 60 + "!": 1},
                        "schema": {"properties": {"b": {}}, "patternProperties": {"(a|aa)+$": {}},
                                   "additionalProperties": False}}),
    ("yaml_processor", {"operation": "validate", "content": "s: " + "a" * 60 + "!",
                        "schema": {"properties": {"s": {"pattern": "(a|aa)+$"}}}}),
])
def test_d9_schema_patterns_are_stopped_too(project, tool, inp):
    p, took = one(project, f"Tools.get('{tool}'):execute(JSON.decode([==[{json.dumps(inp)}]==]))")
    assert p.returncode == 1
    assert f"[2008 Timeout] {tool}: the regex " in p.stderr and "took too long" in p.stderr, p.stderr
    assert took < 8, took


# ---- D10: file and inline sizes ----------------------------------------------------------

@pytest.mark.timeout(60)
def test_d10_a_csv_file_over_max_file_size_is_refused(project):
    """The finding's shape: a CSV past the default 10 MB limit (the finding's was 74 MB)."""
    row = "region,amount,note\n" + "eu,100,some text for the row\n" * 420_000     # 12.2 MB
    (project / "big.csv").write_text(row)
    items = [{"tool": "csv_processor", "input": {"file_path": "big.csv", "aggregations": ["sum:amount"]}}]
    out, took = cases(project, items)
    refused(out[0], 2002, "csv_processor: 'big.csv' is 12.2 MB, over the 10 MB limit (tools.max_file_size)")
    assert took < 8, took


@pytest.mark.timeout(60)
def test_d10_every_file_and_inline_text_is_held_to_max_file_size(project):
    big = "x: 1\n" * 50_000                           # 250 kB
    for name in ("a.csv", "a.json", "a.yaml", "a.bin"):
        (project / name).write_text(big)
    os.mkfifo(project / "pipe.csv")                # would block a plain open() for ever
    limit = "over the 100 kB limit (tools.max_file_size)"
    items = [
        {"tool": "csv_processor", "input": {"file_path": "a.csv"}},
        {"tool": "csv_processor", "input": {"path": "a.csv", "operation": "aggregate"}},
        {"tool": "json_processor", "input": {"path": "a.json", "query": "a"}},
        {"tool": "yaml_processor", "input": {"path": "a.yaml"}},
        {"tool": "hash_calculator", "input": {"path": "a.bin"}},
        {"tool": "csv_processor", "input": {"content": ""}, "rep": {"content": ["1,2\n", 50_000]}},
        {"tool": "json_processor", "input": {"input": "", "operation": "parse"}, "rep": {"input": ["1,", 60_000, "[", "1]"]}},
        {"tool": "yaml_processor", "input": {"content": ""}, "rep": {"content": ["- 1\n", 30_000]}},
        {"tool": "template_processor", "input": {"template": ""}, "rep": {"template": ["x", 200_000]}},
        {"tool": "csv_processor", "input": {"file_path": "pipe.csv"}},
        {"tool": "csv_processor", "input": {"file_path": "."}},
        {"tool": "hash_calculator", "input": {"path": "a.csv", "algorithm": "md5"}},
        {"tool": "diff_calculator", "input": {"old": "", "new": "x"}, "rep": {"old": ["x\n", 60_000]}},
        {"tool": "json_processor", "input": {"input": {}, "query": ""}, "rep": {"query": ["a.", 6000, "", "a"]}},
    ]
    out, took = cases(project, items, extra='[tools]\nmax_file_size = "100kB"\n')
    for r, what in zip(out[:5], ("'a.csv' is 250 kB", "'a.csv' is 250 kB", "'a.json' is 250 kB",
                                 "'a.yaml' is 250 kB", "'a.bin' is 250 kB")):
        refused(r, 2002, what, limit)
        assert r["message"].startswith(("csv_processor", "json_processor", "yaml_processor", "hash_calculator"))
    for r, what in zip(out[5:9], ("the CSV text in 'content' is 200,000 characters",
                                  "the JSON text in 'input' is 120,003 characters",
                                  "the YAML text is 120,000 characters", "the template is 200,000 characters")):
        refused(r, 2002, what, limit)
    refused(out[9], 2002, "'pipe.csv' is not a regular file")
    refused(out[10], 2002, "'.' is not a regular file")
    refused(out[11], 2002, "'a.csv' is 250 kB")
    refused(out[12], 2002, "diff_calculator: 'old' is 120,000 characters", limit)
    refused(out[13], 2002, "json_processor: the query is 12,001 characters long; at most 10,000")
    assert took < 8, took


# ---- D13: results larger than the spell can hold ----------------------------------------------

@pytest.mark.timeout(120)
def test_d13_results_the_spell_could_not_hold_are_refused(project):
    items = [
        {"tool": "text_manipulator", "input": {"text": "", "operation": {"repeat": {"count": 10000}}},
         "rep": {"text": ["x", 30000]}},                                           # the finding: 300 MB
        {"tool": "text_manipulator", "input": {"text": "x", "operation": {"pad": {"length": 2000000000}}}},
        {"tool": "text_manipulator", "input": {"text": "", "operation": {"replace": {
            "pattern": "", "replacement": "yyyyyyyyyyyyyyyy"}}}, "rep": {"text": ["x", 3_000_000]}},
        {"tool": "text_manipulator", "input": {"text": "", "operation": {"replace": {
            "pattern": "", "replacement": "yyyyyyyyyyyyyyyy", "regex": False}}}, "rep": {"text": ["x", 3_000_000]}},
        {"tool": "text_manipulator", "input": {"text": "", "operation": {"extract": ""}}, "rep": {"text": ["x", 3_000_000]}},
        {"tool": "text_manipulator", "input": {"text": "", "operation": "words"}, "rep": {"text": ["a ", 3_000_000]}},
        {"tool": "text_manipulator", "input": {"text": "", "operations": ["words", {"repeat": 10000}]},
         "rep": {"text": ["ab ", 2000]}},
        {"tool": "csv_processor", "input": {"operation": "write", "rows": [{f"k{i}": i} for i in range(5000)]}},
        {"tool": "csv_processor", "input": {"content": ""}, "rep": {"content": ["1,2\n", 2_000_000, "a,b\n"]}},
        {"tool": "json_processor", "input": {"input": "", "operation": "parse"},
         "rep": {"input": ["{},", 2_000_000, "[", "{}]"]}},
        {"tool": "json_processor", "input": {"input": {"a": "xxxxxxxxxx"}, "query": "[@, @]" + " | [@, @]" * 40}},
        {"tool": "json_processor", "input": {"input": {"a": 1}, "query": "to_string([@, @]" + " | [@, @]" * 40 + ")"}},
        {"tool": "base64_encoder", "input": {"input": "", "operation": "url_encode"}, "rep": {"input": ["é", 8_000_000]}},
    ]
    out, took = cases(project, items, limit="30s", memory="64MB", extra='[tools]\nmax_file_size = "100MB"\n')
    for r in out:
        refused(r, 4005, "more than the spell can hold (security.max_memory = 64 MB)")
    assert "the repeated text would be about 300 MB" in out[0]["message"]
    assert took < 30, took


@pytest.mark.timeout(60)
def test_d13_csv_aggregates_without_holding_the_rows(project):
    """Aggregating reads rows one at a time: a file whose rows could not be held still sums."""
    (project / "rows.csv").write_text("g,v\n" + "a,1\nb,2\n" * 150_000)
    items = [{"tool": "csv_processor", "input": {"file_path": "rows.csv", "group_by": "g",
                                                   "aggregations": ["sum:v", "count:*", "avg:v", "min:v", "max:v"]}},
             {"tool": "csv_processor", "input": {"file_path": "rows.csv"}}]
    out, _ = cases(project, items, limit="30s", memory="16MB")
    assert out[0]["value"] == [{"g": "a", "sum_v": 150000, "count_all": 150000, "avg_v": 1.0, "min_v": 1, "max_v": 1},
                               {"g": "b", "sum_v": 300000, "count_all": 150000, "avg_v": 2.0, "min_v": 2, "max_v": 2}]
    refused(out[1], 4005, "the rows of 'rows.csv' grew past 8 MB")


# ---- more work that stops at the limit ------------------------------------------------

STOPS = [
    ("json_processor", {"operation": "validate", "input": 1, "schema": {
        "$defs": {**{f"a{i}": {"anyOf": [{"$ref": f"#/$defs/a{i + 1}"}, {"$ref": f"#/$defs/a{i + 1}"}]}
                     for i in range(40)}, "a40": False}, "$ref": "#/$defs/a0"}}),
    ("json_processor", {"input": [1], "query": "[@, @][]" + " | [@, @][]" * 30}),
    ("diff_calculator", {"old": "".join(chr(0x100 + (i * 7919) % 101) for i in range(300_000)),
                         "new": "".join(chr(0x100 + (i * 104729) % 101) for i in range(300_000))}),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("tool,inp", STOPS, ids=["schema anyOf/$ref", "jmespath doubling", "diff"])
def test_other_cpu_heavy_inputs_stop_at_the_spell_limit(project, tool, inp):
    p, took = one(project, f"Tools.get('{tool}'):execute(JSON.decode([==[{json.dumps(inp)}]==]))")
    assert p.returncode == 1
    assert (f"[2008 Timeout] {tool}: stopped" in p.stderr and "max_execution_time (2s)" in p.stderr) \
        or f"[4005 MemoryLimitExceeded] {tool}:" in p.stderr, p.stderr
    assert took < 8, took


@pytest.mark.timeout(60)
def test_bounded_implementations_answer_as_before(project):
    """The linear uniqueItems, the streaming aggregation and the checked diff give the old answers."""
    import difflib
    old = "".join(f"line {i}\n" for i in range(300))
    new = "".join(f"line {i * 7 % 300} x\n" for i in range(300))
    items = [
        {"tool": "json_processor", "input": {"operation": "validate", "input": v, "schema": {"uniqueItems": True}}}
        for v in ([1, 1.0], [1, True], [{"a": [1, {"b": 2}]}, {"a": [1, {"b": 2.0}]}], [0, False], ["1", 1])
    ] + [
        {"tool": "diff_calculator", "input": {"old": old, "new": new, "context_lines": 2}},
        {"tool": "diff_calculator", "input": {"old": old[:2000], "new": new[:2000], "format": "ndiff"}},
        {"tool": "csv_processor", "input": {"content": "g,v\na,1\nb,x\na,2.5\nb,\na,-1\n", "group_by": "g",
                                            "aggregations": ["sum:v", "count:v", "count:*", "avg:v", "min:v",
                                                             "max:v"]}},
    ]
    out, _ = cases(project, items)
    assert [r["value"]["valid"] for r in out[:5]] == [False, True, False, True, True]
    al, bl = old.splitlines(True), new.splitlines(True)
    assert out[5]["value"]["diff"] == "".join(difflib.unified_diff(al, bl, "old", "new", n=2))
    assert out[5]["value"]["similarity"] == round(difflib.SequenceMatcher(None, old, new).ratio(), 4)
    nd = [x if x.endswith("\n") else x + "\n" for x in
          difflib.ndiff(old[:2000].splitlines(True), new[:2000].splitlines(True))]
    assert out[6]["value"]["diff"] == "".join(nd)
    assert out[7]["value"] == [
        {"g": "a", "sum_v": 2.5, "count_v": 3, "count_all": 3, "avg_v": 2.5 / 3, "min_v": -1, "max_v": 2.5},
        {"g": "b", "sum_v": 0, "count_v": 1, "count_all": 2}]         # None: no key in a script table


def test_file_search_stops_a_runaway_regex(project):
    """D9 in file_search too: a catastrophic pattern over a file's lines stops at the limit."""
    import time as _time

    from tests.conftest import cli
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n[security]\nmax_execution_time = "2s"\n')
    (project / "data").mkdir()
    (project / "data" / "a.txt").write_text("a" * 40 + "!\n")
    (project / "s.lua").write_text('local ok, e = pcall(function() return Tools.get("file_search"):execute('
                                   '{ path = "data", pattern = "^(a|aa)+$" }) end) print(ok, e.code)')
    t0 = _time.perf_counter()
    r = cli("run", "s.lua", cwd=project, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "false\t2008", r.stdout + r.stderr
    assert _time.perf_counter() - t0 < 8


def test_spell_tool_schema_patterns_cannot_hang(project):
    """A tool a spell defines with a catastrophic `pattern`: the input (maybe from an
    agent) is refused with 2002 in about a second, not hung on."""
    import time as _time

    from tests.conftest import cli
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n[security]\nmax_execution_time = "5s"\n')
    (project / "s.lua").write_text('''
local t = Tools.create("shout", { input_schema = { type = "object", properties = {
    s = { type = "string", pattern = "^(a|aa)+$" } }, patternProperties = { ["^(b|bb)+$"] = { type = "string" } } },
  execute = function(inp) return inp.s end })
print(t:execute({ s = "aaaa" }).result)
for _, inp in ipairs({ { s = string.rep("a", 40) .. "!" }, { [string.rep("b", 40) .. "!"] = "x" } }) do
  local ok, e = pcall(function() return t:execute(inp) end)
  print(ok, e.code, (e.message:find("took longer") ~= nil) or e.message)
end''')
    t0 = _time.perf_counter()
    r = cli("run", "s.lua", cwd=project, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["aaaa", "false\t2002\ttrue", "false\t2002\ttrue"], r.stdout
    assert _time.perf_counter() - t0 < 5


def test_lazy_filter_chains_are_measured_as_they_come(project):
    """Red-team: `|map` builds items lazily; `|join`/`|list` must refuse as soon as the
    items pass what the spell can hold, not after building gigabytes."""
    import time as _time

    from tests.conftest import cli
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n'
                                           '[security]\nmax_execution_time = "20s"\nmax_memory = "64MB"\n')
    (project / "tp.lua").write_text('local ok, e = pcall(Tools.execute, "template_processor", { template = params.t }) '
                                    'print(ok, e.code)')
    for t in ('{{ range(100000)|map("string")|map("center", 100000)|join|length }}',
              '{{ range(100000)|map("string")|map("center", 100000)|list|length }}'):
        t0 = _time.perf_counter()
        r = cli("run", "tp.lua", "--param", f"t={t}", cwd=project, timeout=60)
        assert r.returncode == 0 and r.stdout == "false\t4005\n", r.stdout + r.stderr
        assert _time.perf_counter() - t0 < 10
