"""llmspell as a Python library."""

from __future__ import annotations

import asyncio

import pytest

import llmspell
from llmspell import Runtime, SpellFailed


def test_public_exports_are_pinned():
    assert sorted(llmspell.__all__) == sorted(["Runtime", "RunResult", "Tool", "LLMSpellError", "ConfigError",
                                               "SpellFailed", "UsageError", "__version__"])


def test_run_file_and_arun(project):
    (project / "report.lua").write_text("return 'report on ' .. params.topic")
    rt = Runtime(config=str(project / "llmspell.toml"))
    assert rt.run_file("report.lua", params={"topic": "x"}) == "report on x"
    assert asyncio.run(rt.arun("return 1 + 1", engine="lua")) == 2
    rt.close()


def test_from_dict(project):
    rt = Runtime.from_dict({"storage": {"backend": "memory"}, "security": {"max_execution_time": "2s"}})
    assert rt.config.settings.security.max_execution_time == 2.0
    assert rt.run("Storage.set('a', 1) return Storage.get('a')") == 1


def test_python_functions_become_tools(project):
    rt = Runtime(cwd=project)
    calls = []

    def lookup_price(sku: str, quantity: int = 1) -> dict:
        """Price of a product by SKU."""
        calls.append(sku)
        return {"sku": sku, "total": 2.5 * quantity}

    async def slow_double(x: float) -> float:
        await asyncio.sleep(0.01)
        return x * 2

    rt.tools.register(lookup_price)
    rt.tools.register(slow_double, name="double")
    v = rt.run("local p = Tools.get('lookup_price'):execute({ sku = 'A1', quantity = 4 })\n"
               "return { p.result.total, Tools.get('double'):execute({ x = 21 }).result,"
               " Tools.get('lookup_price').description, Tools.get('lookup_price'):schema().required[1] }")
    assert v == [10.0, 42, "Price of a product by SKU.", "sku"]
    assert calls == ["A1"]
    with pytest.raises(SpellFailed) as ei:
        rt.run("Tools.get('lookup_price'):execute({ quantity = 1 })")
    assert ei.value.code == 2002
    rt.close()


def test_many_runs_share_one_runtime(project):
    rt = Runtime(cwd=project)
    for i in range(5):
        rt.run(f"Storage.set('k{i}', {i})")
    assert rt.run("return #Storage.list('k')") == 5
    rt.close()
