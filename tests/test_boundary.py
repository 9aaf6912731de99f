"""A Python failure inside an API call reaches the spell as a catchable error with
the spec's code, the same way in Lua and JavaScript, whatever path the call took."""

from __future__ import annotations

from typing import Any

import pytest

from llmspell import Runtime


class Broken:
    """A stdout whose writes fail the way a closed pipe or a full disk does."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def write(self, s: str) -> int:
        raise self.exc

    def flush(self) -> None:
        pass


LUA = """local ok, err = pcall(print, "x")
return { ok = ok, code = err.code, type = err.type, message = err.message }"""
JS = """try { print("x"); return { ok: true }; }
catch (err) { return { ok: false, code: err.code, type: err.type, message: err.message }; }"""


@pytest.mark.parametrize("engine,code", [("lua", LUA), ("js", JS)])
@pytest.mark.parametrize("exc,want_code,want_type", [
    (BrokenPipeError("pipe closed"), 6009, "InternalError"),
    (TimeoutError(), 6007, "Timeout"),
])
def test_python_exceptions_become_spell_errors(project: Any, engine: str, code: str, exc: BaseException,
                                               want_code: int, want_type: str) -> None:
    rt = Runtime(cwd=project, stdout=Broken(exc))  # type: ignore[arg-type]
    try:
        v = rt.run(code, engine)
    finally:
        rt.close()
    assert v["ok"] is False and v["code"] == want_code and v["type"] == want_type
    assert v["message"].startswith("print: ")


@pytest.mark.parametrize("engine,code", [
    ("lua", "local ok, err = pcall(Async.sleep, 'soon') return err.code"),
    ("js", "try { await Async.sleep('soon') } catch (e) { return e.code }"),
])
def test_bad_arguments_to_waiting_calls_are_script_errors(rt: Runtime, engine: str, code: str) -> None:
    assert rt.run(code, engine) == 4002

