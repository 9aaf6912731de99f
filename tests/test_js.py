"""JavaScript spells: the same API from QuickJS, sandbox and limits, callbacks, errors."""

from __future__ import annotations

import io
import time

import pytest

from llmspell import Runtime, SpellFailed
from tests.conftest import cli, make_rt


class JS:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.out = io.StringIO()
        rt.stdout = self.out

    def __call__(self, code: str, **kw):
        return self.rt.run(code, "js", **kw)

    @property
    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


@pytest.fixture
def js(rt):
    return JS(rt)


def test_globals_and_values(js):
    v = js("""
      return { engine: ENGINE, version: typeof VERSION, p: params.n + 1, a: args[0],
               globals: [Agent, Tools, Workflow, Events, Hooks, Storage, Config, Async, Scheduler,
                         ErrorHandler].every((g) => typeof g === 'object'),
               json: JSON.encode({ b: 1, a: [1, 2.5, null] }), back: JSON.decode('{"x": [1, {"y": true}]}'),
               nativeJson: JSON.stringify({ k: 1 }) };
    """, params={"n": 41}, args=["first"])
    assert v == {"engine": "javascript", "version": "string", "p": 42, "a": "first", "globals": True,
                 "json": '{"a": [1, 2.5, null], "b": 1}', "back": {"x": [1, {"y": True}]}, "nativeJson": '{"k":1}'}


def test_import_from_llmspell_and_relative_modules(project, rt):
    (project / "lib").mkdir()
    (project / "lib" / "math.js").write_text("export const twice = (x) => x * 2;\n")
    (project / "main.js").write_text(
        "import { Tools, Storage } from 'llmspell';\nimport llm from 'llmspell';\nimport { twice } from './lib/math.js';\n"
        "const r = await Tools.get('calculator').execute({ expression: '20 + 1' });\n"
        "export default [twice(r.result), llm.Storage === Storage];\n")
    assert rt.run_file(project / "main.js") == [42, True]


@pytest.mark.parametrize("code,needle", [
    ("import fs from 'fs';", "import of 'fs' is not allowed"),
    ("import x from '../outside.js';", "outside the spell's folder"),
])
def test_imports_outside_the_sandbox_are_refused(project, rt, code, needle):
    (project.parent / "outside.js").write_text("export default 1;")
    (project / "bad.js").write_text(code)
    with pytest.raises(SpellFailed) as ei:
        rt.run_file(project / "bad.js")
    assert ei.value.code == 4006 and needle in ei.value.message


def test_no_host_access(js):
    v = js("return [typeof require, typeof process, typeof std, typeof os, typeof fetch, typeof XMLHttpRequest,"
           " typeof __call, typeof __next_job, typeof Deno, typeof Bun];")
    assert v == ["undefined"] * 10


def test_time_limit_cannot_be_caught(project):
    rt = make_rt(project, '[security]\nmax_execution_time = "1s"\n')
    t0 = time.perf_counter()
    with pytest.raises(SpellFailed) as ei:
        rt.run("for (;;) { try { while (true) {} } catch (e) {} }", "js")
    assert ei.value.code == 4004 and time.perf_counter() - t0 < 5
    with pytest.raises(SpellFailed) as ei:
        rt.run("for (;;) { try { await Async.sleep(0.05) } catch (e) {} }", "js")
    assert ei.value.code == 4004


def test_memory_limit(project):
    rt = make_rt(project, '[security]\nmax_memory = "32MB"\n')
    with pytest.raises(SpellFailed) as ei:
        rt.run("const a = []; while (true) a.push('x'.repeat(1000) + a.length);", "js")
    assert ei.value.code == 4005


def test_never_settling_promise_is_reported(js):
    with pytest.raises(SpellFailed, match="promise that nothing can settle"):
        js("await new Promise(() => {});")


def test_error_objects_and_parse_error(js):
    v = js("""
      let caught;
      try { await Tools.get('calculator').execute({}); } catch (e) { caught = e; }
      const p = ErrorHandler.parseError(new TypeError('plain'));
      const q = ErrorHandler.parse_error('just a string');
      return [caught instanceof Error, caught.code, caught.type, caught.category, String(caught), caught.source,
              p.code, p.message, q.message];
    """)
    assert v == [True, 2002, "InvalidInput", "tool", "[2002 InvalidInput] calculator: 'expression' is required",
                 "exec:3", 4002, "plain", "just a string"]


def test_uncaught_error_names_file_and_line(project):
    (project / "e.js").write_text("print('a');\n\nthrow new Error('it broke');\n")
    r = cli("run", "e.js", cwd=project)
    assert r.returncode == 1 and r.stdout == "a\n"
    assert "e.js:3: [4002 RuntimeError] it broke" in r.stderr and "Traceback" not in r.stderr
    (project / "s.js").write_text("let x = 1;\nlet = ;\n")
    r = cli("run", "s.js", cwd=project)
    assert r.returncode == 1 and "s.js:2: [4001 SyntaxError]" in r.stderr


def test_callbacks_everywhere(js):
    js("""
      Hooks.register('before_tool_execution', async (ctx) => { await Async.sleep(0.001); print('hook', ctx.name); });
      Events.subscribe('demo.*', (ev) => print('event', ev.type, ev.data.n));
      const shout = Tools.register(Tools.create('shout', { description: 'up', execute: async (i) => i.text.toUpperCase(),
        inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } }));
      print((await Tools.get('shout').execute({ text: 'hi' })).result);
      Events.emit('demo.x', { n: 1 });
      const wf = Workflow.parallel({ steps: [
          { name: 'a', run: async (ctx) => { await Async.sleep(0.01); return 2; } },
          { name: 'b', run: (ctx) => 3, when: (ctx) => true } ],
        aggregate: (o) => o.a * o.b });
      print('wf', (await wf.execute()).output);
      let chunks = 0;
      await Agent.new({ model: 'mock/x', responses: ['a b c'] }).stream('x', (c) => { chunks += 1; });
      print('chunks', chunks);
      print('all', JSON.stringify(await Async.all([() => 1, async () => { await Async.sleep(0.01); return 2; }])));
      await new Promise((r) => setTimeout(r, 10));
    """)
    assert js.lines == ["hook shout", "HI", "event demo.x 1", "wf 6", "chunks 3", "all [1,2]"]


def test_camel_case_names_and_snake_keys(js):
    v = js("""
      const a = Agent.new({ name: 'c', model: 'mock/x', systemPrompt: 'S', max_iterations: 2 });
      let sys;
      Hooks.register('before_llm_call', (ctx) => { sys = ctx.input.messages[0].content; });
      const out = await a.execute({ input: 'hi' });
      a.clearHistory();
      return [sys, out.toolCalls.length, out.tool_calls.length, (await a.history()).length,
              typeof Storage.setBatch, typeof Storage.set_batch, typeof ErrorHandler.parseError];
    """)
    assert v == ["S", 0, 0, 0, "function", "function", "function"]


def test_set_timeout_and_clear_timeout(js):
    js("const id = setTimeout(() => print('never'), 30); clearTimeout(id);\n"
       "await new Promise((r) => setTimeout(() => { print('fired'); r(); }, 20));\nawait Async.sleep(0.05);")
    assert js.lines == ["fired"]


def test_async_overlaps(js):
    t0 = time.perf_counter()
    v = js("return await Promise.all(Array.from({ length: 20 }, (_, i) => Async.sleep(0.3).then(() => i)));")
    assert v == list(range(20)) and time.perf_counter() - t0 < 1.5


def test_exec_and_repl_with_engine_js(project):
    r = cli("exec", "--engine", "js", "return 6 * 7", cwd=project)
    assert r.returncode == 0 and r.stdout.strip() == "42"
    r = cli("repl", "--engine", "js", cwd=project,
            input="x = 20\nfunction f(a) {\n  return a + x\n}\nf(22)\nawait Storage.set('r', f(1))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["20", "42"]
    assert cli("state", "get", "r", cwd=project).stdout.strip() == "21"
