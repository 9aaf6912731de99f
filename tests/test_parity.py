"""Every example exists in Lua and JavaScript and prints the same output."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli

SPELLS = Path(__file__).resolve().parent.parent / "spells"
PAIRS = sorted(p.stem for p in SPELLS.glob("*.lua"))


def normalise(text: str) -> str:
    text = re.sub(r"took [0-9.]+ ms", "took X ms", text)
    return re.sub(r"run [0-9a-f]{12}", "run X", text)


def test_every_example_has_both_languages():
    assert PAIRS and PAIRS == sorted(p.stem for p in SPELLS.glob("*.js"))


@pytest.mark.parametrize("name", PAIRS)
def test_same_output_in_both_engines(tmp_path, name):
    outs = {}
    for ext in ("lua", "js"):
        proj = tmp_path / ext
        proj.mkdir()
        shutil.copy(SPELLS / f"{name}.{ext}", proj / f"{name}.{ext}")
        r = cli("run", f"{name}.{ext}", cwd=proj)
        assert r.returncode == 0, (ext, r.stderr)
        outs[ext] = normalise(r.stdout)
    assert outs["lua"] == outs["js"]
    assert outs["lua"].strip()


def test_web_scraping_demo_in_both_engines():
    runs = [subprocess.run([sys.executable, str(SPELLS / "web_scraping_demo.py"), *extra], capture_output=True,
                           text=True, timeout=60, cwd=SPELLS.parent) for extra in ([], ["--engine", "js"])]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert runs[0].stdout == runs[1].stdout and "aggregate:" in runs[0].stdout
