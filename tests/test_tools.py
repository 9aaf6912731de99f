"""The tool registry, spell-defined tools and every built-in tool."""

from __future__ import annotations

import http.server
import json
import os
import re
import threading

import pytest

from llmspell import SpellFailed
from tests.conftest import Lua, make_rt

BUILTINS = {"file_reader", "file_writer", "directory_lister", "file_search", "file_metadata", "http_client",
            "json_processor", "csv_processor", "yaml_processor", "calculator", "text_manipulator",
            "uuid_generator", "hash_calculator", "base64_encoder", "date_time_handler", "template_processor",
            "diff_calculator", "environment_reader"}


def tool(lua, name, inp):
    return lua(f"return Tools.get('{name}'):execute(JSON.decode([==[{json.dumps(inp)}]==])).result")


def test_catalogue(lua):
    names = {t["name"] for t in lua("return Tools.list()")}
    assert BUILTINS <= names
    assert {t["name"] for t in lua("return Tools.list('filesystem')")} == {
        "file_reader", "file_writer", "directory_lister", "file_search", "file_metadata"}
    assert lua("return Tools.search('hash')[1].name") == "hash_calculator"
    assert lua("return Tools.get('calculator'):schema().required") == ["expression"]
    with pytest.raises(SpellFailed) as ei:
        lua("Tools.get('calculater')")
    assert ei.value.code == 2001 and "did you mean calculator" in ei.value.suggestions[0]


def test_spell_tool_is_first_class(lua):
    v = lua("""
      local mine = Tools.create('shout', { description = 'Upper-cases text', category = 'custom',
        input_schema = { type = 'object', properties = { text = { type = 'string' } }, required = { 'text' } },
        execute = function(input) Async.sleep(0.001) return string.upper(input.text) end })
      Tools.register(mine)
      local seen
      Hooks.register('before_tool_execution', function(ctx) seen = ctx.name end)
      local ok, e = pcall(function() return Tools.get('shout'):execute({ text = 5 }) end)
      return { Tools.get('shout'):execute({ text = 'hi' }).result, seen, e.code, Tools.search('upper')[1].name }
    """)
    assert v == ["HI", "shout", 2002, "shout"]


def test_calculator(lua):
    assert tool(lua, "calculator", {"expression": "2 + 2 * 3"}) == 8
    assert tool(lua, "calculator", {"expression": "sqrt(16) + x ^ 2", "variables": {"x": 3}}) == 13
    assert tool(lua, "calculator", {"expression": "1 / 3", "precision": 3}) == 0.333
    for bad in ("__import__('os').system('id')", "().__class__", "9 ** 9 ** 9", "open('x')"):
        with pytest.raises(SpellFailed) as ei:
            tool(lua, "calculator", {"expression": bad})
        assert ei.value.code == 2002


def test_file_tools_round_trip(project, lua):
    r = tool(lua, "file_writer", {"path": "out/report.md", "content": "# Hi\nline two\n"})
    assert r["bytes_written"] == 14
    assert tool(lua, "file_reader", {"path": "out/report.md"}) == "# Hi\nline two\n"
    tool(lua, "file_writer", {"path": "out/report.md", "content": "v2", "create_backup": True})
    assert (project / "out" / "report.md.bak").read_text() == "# Hi\nline two\n"
    assert [e["name"] for e in tool(lua, "directory_lister", {"path": "out"})] == ["report.md", "report.md.bak"]
    assert [e["path"] for e in tool(lua, "directory_lister", {"path": ".", "recursive": True, "pattern": "*.md"})] \
        == ["out/report.md"]
    hits = tool(lua, "file_search", {"path": ".", "pattern": "Hi"})
    assert hits == [{"path": "out/report.md.bak", "line": 1, "text": "# Hi"}]
    meta = tool(lua, "file_metadata", {"path": "out/report.md", "checksum": True})
    assert meta["size"] == 2 and meta["type"] == "file" and len(meta["checksum"]) == 64
    assert not list((project / "out").glob(".*tmp"))   # atomic write leaves no temp files


def test_file_tools_stay_inside_allowed_paths(project, lua, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("secret")
    (project / "link").symlink_to(outside)
    for name, inp in [("file_reader", {"path": str(outside / "secret.txt")}),
                      ("file_reader", {"path": "../" + outside.name + "/secret.txt"}),
                      ("file_reader", {"path": "link/secret.txt"}),
                      ("file_writer", {"path": "link/new.txt", "content": "x"}),
                      ("directory_lister", {"path": "/etc"}),
                      ("file_metadata", {"path": "/etc/passwd"})]:
        with pytest.raises(SpellFailed) as ei:
            tool(lua, name, inp)
        assert ei.value.code == 2006, name
    assert not (outside / "new.txt").exists()


def test_wrong_arguments_are_named(lua):
    with pytest.raises(SpellFailed) as ei:
        tool(lua, "file_writer", {"path": "x"})
    assert ei.value.code == 2002 and "'content' is required" in ei.value.message
    with pytest.raises(SpellFailed, match="path: 5 is not of type 'string'"):
        tool(lua, "file_reader", {"path": 5})
    with pytest.raises(SpellFailed, match="Additional properties"):
        tool(lua, "uuid_generator", {"versoin": 4})


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "http://localhost.invalid/x")
            self.end_headers()
            return
        body = json.dumps({"path": self.path, "ua": self.headers.get("X-Test")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        data = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.end_headers()
        self.wfile.write(data.upper())

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_http_client(project, server):
    lua = Lua(make_rt(project, '[security]\nallow_private_network = true\n'))   # the server is on 127.0.0.1
    r = tool(lua, "http_client", {"url": server + "/a?b=1", "headers": {"X-Test": "yes"}})
    assert r["status"] == 200 and r["json"] == {"path": "/a?b=1", "ua": "yes"}
    r = tool(lua, "http_client", {"url": server + "/p", "method": "POST", "body": "hello"})
    assert r["status"] == 201 and r["body"] == "HELLO"


def test_http_client_honours_allowed_domains(project, server):
    rt = make_rt(project, '[security]\nallowed_domains = ["127.0.0.1"]\nallow_private_network = true\n')
    assert rt.run(f"return Tools.get('http_client'):execute({{url = '{server}/x'}}).result.status") == 200
    with pytest.raises(SpellFailed) as ei:
        rt.run("return Tools.get('http_client'):execute({url = 'http://example.com/'})")
    assert ei.value.code == 2006
    with pytest.raises(SpellFailed) as ei:   # a redirect to a foreign domain is refused too
        rt.run(f"return Tools.get('http_client'):execute({{url = '{server}/redirect'}})")
    assert ei.value.code == 2006 and "localhost.invalid" in ei.value.message


def test_data_tools(lua):
    data = {"items": [{"name": "a", "price": 5}, {"name": "b", "price": 20}]}
    assert tool(lua, "json_processor", {"input": data, "query": "items[?price > `10`].name"}) == ["b"]
    assert tool(lua, "json_processor", {"operation": "validate", "input": {"a": 1},
                                        "schema": {"type": "object", "required": ["b"]}})["valid"] is False
    csv_text = "region,amount\neu,100\nus,2000\neu,3000\n"
    assert tool(lua, "csv_processor", {"content": csv_text, "filter": "amount > 1000"}) == [
        {"region": "us", "amount": "2000"}, {"region": "eu", "amount": "3000"}]
    assert tool(lua, "csv_processor", {"content": csv_text, "group_by": "region",
                                       "aggregations": ["sum:amount", "count:*"]}) == [
        {"region": "eu", "sum_amount": 3100, "count_all": 2}, {"region": "us", "sum_amount": 2000, "count_all": 1}]
    assert tool(lua, "csv_processor", {"operation": "write", "rows": [{"a": 1, "b": 2}]}) == "a,b\n1,2\n"
    assert tool(lua, "yaml_processor", {"content": "a: 1\nlist: [x, y]\n"}) == {"a": 1, "list": ["x", "y"]}
    assert tool(lua, "yaml_processor", {"operation": "stringify", "input": {"k": "v"}}) == "k: v\n"


def test_yaml_processor_reads_a_path_whatever_the_operation(lua, project):
    (project / "c.yaml").write_text("a: [1, 2]\n")
    for op in ("read", "parse", "validate"):
        r = tool(lua, "yaml_processor", {"operation": op, "path": "c.yaml"})
        assert (r["data"] if op == "validate" else r) == {"a": [1, 2]}
    with pytest.raises(SpellFailed, match="give YAML text in 'content' or a file in 'path'"):
        tool(lua, "yaml_processor", {"operation": "read"})


def test_utility_tools(lua):
    assert tool(lua, "text_manipulator", {"text": "  Hello, World!  ", "operations": [
        "trim", "toLowerCase", {"replace": {"pattern": "world", "replacement": "Universe"}}]}) == "hello, Universe!"
    assert tool(lua, "text_manipulator", {"text": "a1 b22 c333", "operation": {"extract": {"pattern": "\\d+"}}}) \
        == ["1", "22", "333"]
    assert len(tool(lua, "uuid_generator", {"count": 3})) == 3
    import uuid
    assert tool(lua, "uuid_generator", {"version": 5, "name": "x"}) == str(uuid.uuid5(uuid.NAMESPACE_DNS, "x"))
    u7 = tool(lua, "uuid_generator", {"version": 7})
    assert u7[14] == "7"
    assert tool(lua, "hash_calculator", {"input": "abc"})["hash"] == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert tool(lua, "hash_calculator", {"input": "abc", "algorithm": "md5"})["hash"] == "900150983cd24fb0d6963f7d28e17f72"
    assert tool(lua, "base64_encoder", {"input": "hi there"}) == "aGkgdGhlcmU="
    assert tool(lua, "base64_encoder", {"operation": "decode", "input": "aGkgdGhlcmU="}) == "hi there"
    assert tool(lua, "date_time_handler", {"operation": "format", "date": "2025-01-20T15:30:00Z",
                                           "format": "YYYY-MM-DD HH:mm", "timezone": "America/New_York"}) == "2025-01-20 10:30"
    assert tool(lua, "date_time_handler", {"operation": "diff", "date": "2025-01-01", "date2": "2025-01-08",
                                           "unit": "days"})["difference"] == 7
    assert tool(lua, "template_processor", {"template": "Hello {{name}}, {{score}}/{{max}}!",
                                            "variables": {"name": "Alice", "score": 95, "max": 100}}) == "Hello Alice, 95/100!"
    with pytest.raises(SpellFailed, match="undefined"):
        tool(lua, "template_processor", {"template": "{{ missing }}", "variables": {}})
    d = tool(lua, "diff_calculator", {"old": "a\nb\n", "new": "a\nc\n"})
    assert d["added"] == 1 and d["removed"] == 1 and "-b" in d["diff"]
    assert tool(lua, "diff_calculator", {"old": {"a": 1}, "new": {"a": 2}})["changes"] == [
        {"path": "a", "op": "changed", "old": 1, "new": 2}]


TEXT_CASES = [   # (operation, text, result): every operation and alias text_manipulator knows
    ("trim", "  a b  ", "a b"),
    ("lowercase", "AbC", "abc"), ("toLowerCase", "AbC", "abc"), ("lower", "AbC", "abc"),
    ("uppercase", "AbC", "ABC"), ("to_upper_case", "AbC", "ABC"), ("upper", "AbC", "ABC"),
    ("capitalize", "hello world", "Hello world"), ("capitalize", "", ""),
    ("title", "hello world", "Hello World"), ("Title Case", "hello world", "Hello World"),
    ("reverse", "abc", "cba"),
    ("length", "héllo", 5),
    ("word_count", " a  b c ", 3), ("words", " a  b c ", ["a", "b", "c"]),
    ("lines", "a\nb\r\nc", ["a", "b", "c"]),
    ("slugify", " Hello, World! 2x ", "hello-world-2x"),
    ("split", "a b  c", ["a", "b", "c"]), ({"split": ","}, "a,b,,c", ["a", "b", "", "c"]),
    ({"split": {"separator": "-"}}, "a-b", ["a", "b"]),
    ("truncate", "x" * 120, "x" * 97 + "..."), ({"truncate": 5}, "abcdefgh", "ab..."),
    ({"truncate": {"length": 4, "suffix": "~"}}, "abcdefgh", "abc~"), ({"truncate": 10}, "short", "short"),
    ({"replace": {"pattern": "O", "replacement": "0"}}, "foo", "f00"),
    ({"replace": {"pattern": "O", "replacement": "0", "case_sensitive": True}}, "foO", "fo0"),
    ({"replace": {"pattern": "o.", "replacement": "_", "regex": False}}, "o.oo", "_oo"),
    ({"extract": {"pattern": "\\d+"}}, "a1 b22", ["1", "22"]), ({"match": "[a-z]+"}, "ab1cd", ["ab", "cd"]),
    ({"findall": {"pattern": "A", "flags": "gi"}}, "aAb", ["a", "A"]),
    ({"extract": {"pattern": "\\d", "flags": "i"}}, "1 2", ["1"]),      # flags without 'g': the first only
    ({"pad": {"length": 5, "char": "0"}}, "42", "00042"), ({"pad": {"length": 4, "side": "right"}}, "ab", "ab  "),
    ({"repeat": 3}, "ab", "ababab"), ({"repeat": {"count": 2}}, "x", "xx"),
    ({"operation": "truncate", "length": 3, "suffix": ""}, "abcdef", "abc"),
]


@pytest.mark.parametrize("op,text,expected", TEXT_CASES)
def test_text_manipulator_every_operation(op, text, expected):
    from llmspell.tools.utility import text_manipulator
    assert text_manipulator({"text": text, "operation": op}, None) == expected


def test_text_manipulator_chains_maps_and_errors():
    from llmspell.errors import LLMSpellError
    from llmspell.tools.utility import _TEXT_OPS, text_manipulator
    names = [o if isinstance(o, str) else o.get("operation") or next(iter(o)) for o, _, _ in TEXT_CASES]
    assert {re.sub(r"[_\s]", "", n).lower() for n in names} == set(_TEXT_OPS)   # TEXT_CASES covers them all
    assert text_manipulator({"text": "a b", "operations": ["split", "upper", "reverse"]}, None) == ["A", "B"]
    assert text_manipulator({"text": 12345, "operation": "length"}, None) == 5
    with pytest.raises(LLMSpellError) as ei:
        text_manipulator({"text": "x", "operation": "shout"}, None)
    assert ei.value.code == 2002 and ei.value.message == "text_manipulator: unknown operation 'shout'"
    hint = ei.value.suggestions[0]
    assert hint.startswith("trim, lowercase,") and all(n.replace("_", "") in _TEXT_OPS for n in hint.split(", "))
    with pytest.raises(LLMSpellError, match=r"\] text_manipulator: cannot read operation 5$"):
        text_manipulator({"text": "x", "operation": 5}, None)
    with pytest.raises(LLMSpellError, match=r"\] text_manipulator: invalid regex '\(': "):
        text_manipulator({"text": "x", "operation": {"replace": {"pattern": "("}}}, None)
    with pytest.raises(LLMSpellError, match=r"\] text_manipulator: invalid regex: "):
        text_manipulator({"text": "x", "operation": {"extract": "["}}, None)
    with pytest.raises(LLMSpellError, match="give 'operation' or 'operations'"):
        text_manipulator({"text": "x"}, None)


def test_environment_reader_allow_list_and_masking(lua, monkeypatch):
    monkeypatch.setenv("LLMSPELL_TEST_VAR", "visible")
    monkeypatch.setenv("LLMSPELL_API_KEY", "sk-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    r = tool(lua, "environment_reader", {"variables": ["LLMSPELL_TEST_VAR", "LLMSPELL_API_KEY", "AWS_SECRET_ACCESS_KEY"]})
    assert r["variables"] == {"LLMSPELL_TEST_VAR": "visible", "LLMSPELL_API_KEY": "********"}
    assert r["denied"] == ["AWS_SECRET_ACCESS_KEY"]
    assert "sk-secret" not in json.dumps(tool(lua, "environment_reader", {"pattern": "*"}))
    assert os.environ["LLMSPELL_API_KEY"] == "sk-secret"
