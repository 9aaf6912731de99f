"""The API reference and stubs are generated from the declaration and kept in sync."""

from __future__ import annotations

from pathlib import Path

from llmspell.api.catalog import default_registry
from llmspell.api.docs import lua_stubs, markdown, parity

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_api_reference_is_current():
    assert (DOCS / "api.md").read_text() == markdown(), "run: python -m llmspell.api.docs > docs/api.md"
    assert (DOCS / "llmspell.d.lua").read_text() == lua_stubs()
    assert (DOCS / "parity.md").read_text() == parity(), "run: python -m llmspell.api.docs --parity > docs/parity.md"


def test_every_spec_global_is_declared():
    reg = default_registry()
    for g in ("Agent", "Tools", "Workflow", "Events", "Hooks", "Storage", "Config", "Async", "Scheduler",
              "ErrorHandler", "JSON"):
        assert g in reg.globals, g
    names = {f.public for f in reg.functions}
    for n in ("Storage.set_batch", "Storage.transaction", "Storage.namespace", "Events.replay", "Hooks.unregister",
              "Async.retry", "Tools.create", "Tools.register", "print", "log"):
        assert n in names, n
