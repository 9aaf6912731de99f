"""`--param` must be key=value: anything else is a usage error (exit 2) naming
--param, and the spell does not run. Through the real CLI, fast path and typer."""

from __future__ import annotations

import pytest

from tests.conftest import cli


@pytest.fixture
def spell(project):
    (project / "s.lua").write_text("print('ran with ' .. JSON.encode(params))")
    return project


@pytest.mark.parametrize("argv", [
    ["run", "s.lua", "--param", "novalue"],
    ["run", "s.lua", "-p", "novalue"],
    ["run", "s.lua", "--param=novalue"],
    ["run", "s.lua", "--param", "ok=1", "--param", "novalue"],
    ["s.lua", "--param", "novalue"],                        # the `llmspell SPELL` (shebang) form
    ["--json", "run", "s.lua", "--param", "novalue"],
], ids=["long", "short", "equals", "second", "bare-spell", "json"])
def test_param_without_equals_is_a_usage_error(spell, argv):
    r = cli(*argv, cwd=spell)
    assert r.returncode == 2, (r.stdout, r.stderr)
    said = r.stderr + r.stdout                              # with --json the error is the JSON on stdout
    assert "--param" in said and "novalue" in said
    assert "ran with" not in said                           # the spell never started


def test_param_with_an_empty_key_is_a_usage_error(spell):
    r = cli("run", "s.lua", "--param", "=x", cwd=spell)
    assert r.returncode == 2 and "--param" in r.stderr and "ran with" not in r.stdout


def test_param_missing_its_value_is_a_usage_error(spell):
    r = cli("run", "s.lua", "--param", cwd=spell)            # left to typer: the option needs an argument
    assert r.returncode == 2 and "--param" in r.stderr and "ran with" not in r.stdout


def test_exec_param_without_equals_is_a_usage_error(spell):
    r = cli("exec", "return params", "--param", "novalue", cwd=spell)
    assert r.returncode == 2 and "--param" in r.stderr and "novalue" in r.stderr


def test_good_params_still_run(spell):
    r = cli("run", "s.lua", "--param", "n=3", "-p", "name=Ada", "--param=flag=true", cwd=spell)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ran with {") and '"n":3' in r.stdout.replace(" ", "")
    assert '"flag":true' in r.stdout.replace(" ", "") and '"name":"Ada"' in r.stdout.replace(" ", "")
