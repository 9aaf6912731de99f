"""The command line as a user runs it: real subprocesses, real exit codes."""

from __future__ import annotations

import json
import os
import re
import stat

import pytest

from tests.conftest import cli


def test_run_with_params_and_args(project):
    (project / "s.lua").write_text("print(params.name, params.n + 1, params.flag, args[1], #args)")
    r = cli("run", "s.lua", "--param", "name=Ada", "-p", "n=41", "-p", "flag=true", "--", "x", "y", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Ada\t42\ttrue\tx\t2\n"


def test_bare_spell_and_shebang(project):
    s = project / "hello"
    s.write_text("#!/usr/bin/env llmspell\nprint('hi from shebang')\n")
    (project / "hello.lua").write_text("print('bare')")
    r = cli("hello.lua", cwd=project)
    assert r.returncode == 0 and r.stdout == "bare\n"
    s.chmod(s.stat().st_mode | stat.S_IEXEC)
    r = cli("run", "hello", "--engine", "lua", cwd=project)
    assert r.returncode == 0 and r.stdout == "hi from shebang\n", r.stderr


def test_syntax_error_exit_1_with_file_line(project):
    (project / "bad.lua").write_text("print('x')\nlocal = \n")
    r = cli("run", "bad.lua", cwd=project)
    assert r.returncode == 1
    assert r.stderr.startswith("error: bad.lua:2: [4001 SyntaxError]")
    assert "Traceback" not in r.stderr


def test_uncaught_error_exit_1_no_traceback(project):
    (project / "e.lua").write_text("\nTools.get('nope')\n")
    r = cli("run", "e.lua", cwd=project)
    assert r.returncode == 1
    assert "e.lua:2: [2001 NotFound] unknown tool 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_wrong_tool_arguments(project):
    (project / "w.lua").write_text("Tools.get('calculator'):execute({ expresion = '1' })")
    r = cli("run", "w.lua", cwd=project)
    assert r.returncode == 1 and "[2002 InvalidInput] calculator:" in r.stderr and "hint:" in r.stderr


def test_invalid_config_exit_2(project):
    (project / "llmspell.toml").write_text('[storage]\nbackend = "floppy"\n')
    (project / "s.lua").write_text("print(1)")
    r = cli("run", "s.lua", cwd=project)
    assert r.returncode == 2 and "storage.backend" in r.stderr and "floppy" in r.stderr
    r = cli("config", "validate", cwd=project)
    assert r.returncode == 2


def test_usage_errors_exit_2(project):
    assert cli("run", "missing.lua", cwd=project).returncode == 2
    assert cli("run", "x.lua", "--param", "novalue", cwd=project).returncode == 2
    assert cli("tools", "nonsense", cwd=project).returncode == 2


def test_exec_and_json(project):
    r = cli("exec", "return 6 * 7", cwd=project)
    assert r.returncode == 0 and r.stdout.strip() == "42"
    r = cli("--json", "exec", "print('x') return {a = 1}", cwd=project)
    d = json.loads(r.stdout)
    assert d["status"] == "ok" and d["value"] == {"a": 1} and d["output"] == ["x"]
    r = cli("--json", "exec", "error('boom')", cwd=project)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["message"] == "boom"


def test_debug_shows_a_traceback(project):
    (project / "e.lua").write_text("error('boom')")
    r = cli("--debug", "run", "e.lua", cwd=project)
    assert r.returncode == 1 and "stack traceback" in r.stderr


def test_tools_commands(project):
    r = cli("tools", "list", cwd=project)
    assert r.returncode == 0 and "calculator" in r.stdout and "file_reader" in r.stdout
    r = cli("--json", "tools", "list", "--category", "data", cwd=project)
    assert {t["name"] for t in json.loads(r.stdout)} == {"json_processor", "csv_processor", "yaml_processor"}
    r = cli("tools", "info", "calculator", cwd=project)
    assert r.returncode == 0 and "expression" in r.stdout
    r = cli("tools", "run", "calculator", "--input", '{"expression": "2**10"}', cwd=project)
    assert r.returncode == 0 and r.stdout.strip() == "1024"
    r = cli("tools", "run", "calculator", "--input", "{}", cwd=project)
    assert r.returncode == 1 and "'expression' is required" in r.stderr


def test_config_commands(project):
    r = cli("config", "show", cwd=project, env={"LLMSPELL_PROVIDERS__OPENAI__API_KEY": "sk-abc123"})
    assert r.returncode == 0 and "sk-abc123" not in r.stdout and "********" in r.stdout
    r = cli("--json", "config", "show", "security", cwd=project)
    assert json.loads(r.stdout)["allowed_paths"] == ["."]
    os.remove(project / "llmspell.toml")
    assert cli("config", "init", cwd=project).returncode == 0
    assert cli("config", "validate", cwd=project).returncode == 0
    assert cli("config", "init", cwd=project).returncode == 2


def test_state_commands(project):
    assert cli("state", "set", "greeting", '{"text": "hi"}', cwd=project).returncode == 0
    assert cli("state", "set", "plain", "just text", cwd=project).returncode == 0
    r = cli("--json", "state", "get", "greeting", cwd=project)
    assert json.loads(r.stdout) == {"text": "hi"}
    assert cli("state", "list", cwd=project).stdout.split() == ["greeting", "plain"]
    (project / "s.lua").write_text("print(Storage.get('plain')) Storage.namespace('ns').set('k', 1)")
    assert cli("run", "s.lua", cwd=project).stdout == "just text\n"
    dump = cli("state", "export", cwd=project).stdout
    assert json.loads(dump) == {"": {"greeting": {"text": "hi"}, "plain": "just text"}, "ns": {"k": 1}}
    assert cli("state", "delete", "plain", cwd=project).returncode == 0
    assert cli("state", "get", "plain", cwd=project).returncode == 1
    assert cli("state", "delete", "plain", cwd=project).returncode == 1
    assert cli("state", "import", "-", cwd=project, input=dump).returncode == 0
    assert cli("state", "get", "plain", cwd=project).stdout.strip() == "just text"


def test_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("llmspell ")


def test_repl_keeps_state_between_lines(project):
    r = cli("repl", cwd=project, input="x = 20\nfunction f(a)\n  return a + x\nend\nf(22)\nStorage.set('r', f(1))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["42"]
    assert cli("state", "get", "r", cwd=project).stdout.strip() == "21"


def test_scheduler_notice_under_run(project):
    (project / "j.lua").write_text("Scheduler.register({ name = 'nightly', trigger = { every = 60 }, run = function() end })")
    r = cli("run", "j.lua", cwd=project)
    assert r.returncode == 0 and "nightly" in r.stderr and "llmspell serve" in r.stderr


def test_ctrl_c_exits_130(project):
    import signal
    import subprocess
    import sys
    import time
    (project / "slow.lua").write_text("print('started')\nAsync.sleep(30)\n")
    p = subprocess.Popen([sys.executable, "-m", "llmspell", "run", "slow.lua"], cwd=project,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=15)
    assert p.returncode == 130 and "Traceback" not in err


# -- one declaration of the options (cli/options.py) for the fast path and typer ------------

RUN_ARGVS = [
    ["run", "s.lua"],
    ["--json", "-c", "cfg.toml", "run", "s.lua", "a", "b"],
    ["--config=cfg.toml", "--debug", "run", "-p", "a=1", "s.lua", "--param", "b=[2]", "--param=c=x"],
    ["run", "s.lua", "-e", "js", "--engine=lua", "--resume", "r1", "--", "-p", "x"],
    ["run", "s.lua", "--resume=r2", "x"],
]


@pytest.mark.parametrize("argv", RUN_ARGVS)
def test_fast_path_and_typer_read_run_alike(argv, monkeypatch):
    from llmspell.cli import fast, main, running
    from llmspell.cli.output import OPTS
    seen = []
    monkeypatch.setattr(running, "run_spell", lambda *a: seen.append((a, (OPTS.config, OPTS.debug, OPTS.json))))
    for k, v in vars(OPTS).items():
        monkeypatch.setattr(OPTS, k, v)          # restored after the test
    assert fast.try_run(argv)
    OPTS.config, OPTS.debug, OPTS.json = None, False, False
    main._typer_main(argv)
    assert len(seen) == 2 and seen[0] == seen[1], seen


def test_help_shows_the_declared_options():
    from llmspell.cli.options import GLOBAL_OPTS, RUN_OPTS
    for argv, specs in ((["-h"], GLOBAL_OPTS), (["run", "-h"], RUN_OPTS)):
        out = " ".join(cli(*argv, env={"COLUMNS": "200"}).stdout.split())
        for o in specs:
            assert " ".join(o.flags) in out and o.help in out, (o, out)


def test_run_starts_without_typer(project):
    (project / "s.lua").write_text("print('x')")
    assert cli("run", "s.lua", cwd=project).returncode == 0        # warms the config cache
    r = cli("run", "s.lua", cwd=project, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert r.returncode == 0 and "llmspell.cli.fast" in r.stderr
    assert not [x for x in r.stderr.splitlines() if re.search(r"\b(typer|click|pydantic)\b", x)]


def test_commands_are_the_apps_and_worker_is_none(project):
    import typer

    from llmspell.cli.main import COMMANDS, _build_app
    assert set(typer.main.get_command(_build_app()).commands) == COMMANDS
    r = cli("worker", cwd=project)
    assert r.returncode == 2 and "No such command 'worker'" in r.stderr and "Traceback" not in r.stderr


def test_state_commands_close_the_runtime(tmp_path, monkeypatch):
    from llmspell.cli import common, state_cmd
    from llmspell.errors import LLMSpellError
    closed = []
    store: dict[str, dict] = {"": {"k": 1}, "ns": {"x": 2}}

    class KV:
        def __init__(self, ns):
            self.d = store.setdefault(ns, {})

        def exists(self, k):
            return k in self.d

        def get(self, k):
            return self.d[k]

        def set(self, k, v):
            self.d[k] = v

        def set_batch(self, values):
            self.d.update(values)

        def list(self, prefix):
            return sorted(k for k in self.d if k.startswith(prefix))

        def delete(self, k):
            return self.d.pop(k, None) is not None

        def items(self):
            return self.d.items()

        def namespaces(self):
            return [n for n in store if n]

    class RT:
        def kv(self, ns):
            return KV(ns)

        def close(self):
            closed.append(1)

    monkeypatch.setattr(common, "make_runtime", RT)
    (tmp_path / "in.json").write_text('{"ns": {"y": 3}}')
    calls = [lambda: state_cmd.get("k", ""), lambda: state_cmd.set_("k2", "[1]", ""),
             lambda: state_cmd.list_("", ""), lambda: state_cmd.delete("k2", ""),
             lambda: state_cmd.export(str(tmp_path / "out.json")), lambda: state_cmd.import_(str(tmp_path / "in.json"))]
    for n, call in enumerate(calls, 1):
        call()
        assert len(closed) == n
    for call in (lambda: state_cmd.get("gone", ""), lambda: state_cmd.delete("gone", "")):
        with pytest.raises(LLMSpellError):
            call()
    assert len(closed) == len(calls) + 2
    assert json.loads((tmp_path / "out.json").read_text()) == {"": {"k": 1}, "ns": {"x": 2}}
    assert store["ns"] == {"x": 2, "y": 3}
