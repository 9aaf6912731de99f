"""Issue 10, item 8: storage never silently loses data (findings L1–L4), and the
storage/config errors that used to be raw exceptions (one readable line, right code).

L1  a missing or unreadable CURRENT / MANIFEST refuses to open (6002 naming the file
    and `llmspell state repair`); no empty database is created over the table files;
    `llmspell state repair` rebuilds it and checks every key.
L2  damage found at open (a write-ahead log with garbage in it) or at read time (a
    truncated table) is a 6002 naming the file or the key range, never a record
    quietly skipped or a raw plyvel exception; a log cut short by a crash still opens.
L3  NUL in keys, prefixes and namespace names is refused; llmspell's own namespaces
    (jobs, jobs_state, workflows, agents) cannot be opened from spells, Lua or JS,
    while the runtime and the `state` commands keep using them.
L4  a process blocked by another's lock fails after lock_timeout, once (not 2×).

Everything runs on real LevelDB in temp folders and through the real CLI.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from llmspell import Runtime, SpellFailed
from tests.conftest import cli

DATA = Path(".llmspell") / "data"


def _one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line of a failed command (hints may follow; no traceback)."""
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


def _fill(project: Path, n: int = 2000) -> None:
    """n keys in the main namespace and one in a namespace, flushed into a table file."""
    (project / "fill.lua").write_text(
        f"local t = {{}} for i = 1, {n} do t['k' .. i] = string.rep('v', 100) .. i end\n"
        "Storage.set_batch(t)\nStorage.namespace('ns').set('a', 1)\n")
    r = cli("run", "fill.lua", cwd=project)
    assert r.returncode == 0, r.stderr
    (project / "count.lua").write_text("print(#Storage.list('k'), Storage.namespace('ns').get('a'))\n")
    r = cli("run", "count.lua", cwd=project)        # reopening turns the log into a table
    assert r.stdout.split() == [str(n), "1"], r.stderr
    assert any(p.suffix == ".ldb" for p in (project / DATA).iterdir())


def _tables(project: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (project / DATA).iterdir() if p.suffix in (".ldb", ".log")}


def _repair_then_count(project: Path, n: int) -> None:
    r = cli("state", "repair", cwd=project)
    assert r.returncode == 0, r.stderr
    assert f"{n} in the main namespace" in r.stdout, r.stdout
    r = cli("run", "count.lua", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(n), "1"]


# ---- L1: CURRENT / MANIFEST


def test_sec_missing_current_refuses_then_repair_restores(project):
    _fill(project)
    before = _tables(project)
    (project / DATA / "CURRENT").unlink()
    for args in (("run", "count.lua"), ("state", "list")):
        r = cli(*args, cwd=project)
        assert r.returncode == 1
        line = _one_error_line(r)
        assert "[6002 StorageFailure]" in line and str(project / DATA / "CURRENT") in line
        assert "missing" in line and "llmspell state repair" in r.stderr
    assert not (project / DATA / "CURRENT").exists(), "an empty database was created"
    assert _tables(project) == before, "table files were changed"
    _repair_then_count(project, 2000)


def test_sec_missing_manifest_refuses_then_repair_restores(project):
    _fill(project)
    [manifest] = (project / DATA).glob("MANIFEST-*")
    manifest.unlink()
    r = cli("run", "count.lua", cwd=project)
    assert r.returncode == 1
    line = _one_error_line(r)
    assert "6002" in line and manifest.name in line and "llmspell state repair" in r.stderr
    _repair_then_count(project, 2000)


def test_sec_unreadable_manifest_names_it(project):
    _fill(project)
    [manifest] = (project / DATA).glob("MANIFEST-*")
    manifest.write_bytes(b"\xff" * 64)
    r = cli("state", "get", "k1", cwd=project)
    assert r.returncode == 1
    line = _one_error_line(r)
    assert "6002" in line and manifest.name in line and "llmspell state repair" in r.stderr
    _repair_then_count(project, 2000)


def test_sec_a_new_or_emptied_folder_still_opens(project):
    (project / DATA).mkdir(parents=True)
    (project / DATA / "LOCK").write_text("")       # left by an attempt that created nothing
    (project / "w.lua").write_text("Storage.set('a', 1) print(Storage.get('a'))")
    r = cli("run", "w.lua", cwd=project)
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr


def test_sec_repair_refuses_while_another_process_holds_the_database(project):
    _fill(project, 10)
    (project / "llmspell.toml").write_text('[storage]\nlock_timeout = "0.3s"\n')
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(project / DATA), "30"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        r = cli("state", "repair", cwd=project)
        assert r.returncode == 1 and "in use by another" in _one_error_line(r)
    finally:
        holder.kill()
        holder.wait()


# ---- L2: damage in the log or the tables


def _log_project(project: Path) -> Path:
    """Ten small records in a write-ahead log (events off, so the log holds only them)."""
    (project / "llmspell.toml").write_text('[events]\npersist = false\n')
    (project / "w.lua").write_text("for i = 1, 10 do Storage.set('k' .. i, i) end")
    (project / "c.lua").write_text("print(#Storage.list())")
    assert cli("run", "w.lua", cwd=project).returncode == 0
    [log] = (project / DATA).glob("*.log")
    assert log.stat().st_size > 200
    return log


@pytest.mark.parametrize("offset,garbage", [
    (60, b"garbage!" * 3),       # over a record header: LevelDB took it for a torn write
    (100, b"XY"),                # inside a record: checksum mismatch, skipped without paranoid checks
    (116, bytes(7)),             # a zeroed header: LevelDB skips the rest of the block
])
def test_sec_garbage_in_the_log_refuses_instead_of_dropping_records(project, offset, garbage):
    log = _log_project(project)
    with open(log, "r+b") as f:
        f.seek(offset)
        f.write(garbage)
    r = cli("run", "c.lua", cwd=project)
    assert r.returncode == 1, r.stdout
    line = _one_error_line(r)
    assert "6002" in line and "damaged" in line and log.name in line
    assert "llmspell state repair" in r.stderr
    r = cli("state", "repair", cwd=project)
    assert r.returncode == 0, r.stderr
    r = cli("run", "c.lua", cwd=project)
    assert r.returncode == 0 and 0 < int(r.stdout) <= 10     # what was readable; the damage set aside


def test_sec_a_log_cut_short_by_a_crash_still_opens(project):
    log = _log_project(project)
    os.truncate(log, log.stat().st_size - 3)        # the last record was being written
    r = cli("run", "c.lua", cwd=project)
    assert r.returncode == 0 and r.stdout == "9\n", r.stderr


def test_sec_a_truncated_table_is_a_6002_with_the_key_range(project):
    _fill(project)
    [table] = sorted((project / DATA).glob("*.ldb"), key=lambda p: p.stat().st_size)[-1:]
    os.truncate(table, table.stat().st_size // 2)
    (project / "one.lua").write_text("print(Storage.get('k5'))")
    r = cli("run", "one.lua", cwd=project)
    assert r.returncode == 1
    line = _one_error_line(r)
    # (the key read, or, when the run trims the event history at exit (1 in 20), that range)
    assert "6002" in line and table.name in line and ("key 'k5'" in line or "the event history" in line)
    r = cli("state", "list", cwd=project)
    assert r.returncode == 1
    line = _one_error_line(r)
    assert "6002" in line and table.name in line and "keys in the main namespace" in line
    r = cli("state", "export", cwd=project)
    assert r.returncode == 1 and "6002" in _one_error_line(r)
    r = cli("state", "repair", cwd=project)          # the table goes to lost/; the rest opens
    assert r.returncode == 0, r.stderr
    assert table.name in r.stdout and (project / DATA / "lost" / table.name).exists()
    assert cli("run", "one.lua", cwd=project).returncode == 0


def test_sec_data_path_is_a_file(project):
    (project / "llmspell.toml").write_text('[storage]\npath = "datafile"\n')
    (project / "datafile").write_text("not a folder")
    (project / "s.lua").write_text("Storage.set('a', 1)")
    for args in (("run", "s.lua"), ("state", "list")):
        r = cli(*args, cwd=project)
        assert r.returncode == 1
        line = _one_error_line(r)
        assert "[6002 StorageFailure]" in line and "datafile is not a folder" in line
    assert (project / "datafile").read_text() == "not a folder"


# ---- L3: NUL and internal namespaces


LUA_PROBES = {
    "set": "Storage.set('ns\\0k', 1)",
    "get": "Storage.get('ns\\0k')",
    "exists": "Storage.exists('ns\\0k')",
    "delete": "Storage.delete('ns\\0k')",
    "list": "Storage.list('ns\\0')",
    "set_batch": "Storage.set_batch({ ['ns\\0k'] = 1 })",
    "get_batch": "Storage.get_batch({ 'ns\\0k' })",
    "tx": "Storage.transaction(function(tx) tx.set('ns\\0k', 1) end)",
    "in_namespace": "Storage.namespace('x').set('a\\0b', 1)",
}


@pytest.mark.parametrize("probe", LUA_PROBES)
def test_sec_lua_nul_in_keys_is_refused(rt, probe):
    code = f"local ok, e = pcall(function() {LUA_PROBES[probe]} end) return {{ ok, e and e.code }}"
    assert rt.run(code) == [False, 2002]
    assert rt.kv("ns").list() == [] and rt.kv("x").list() == []


def test_sec_lua_nul_and_internal_namespaces_are_refused(rt):
    rt.run("Workflow.sequential({ name = 'w', checkpoint = true, steps = { { name = 's', "
           "run = function() return 1 end } } }):execute({})")
    [run_id] = rt.kv("workflows").list()
    v = rt.run("""
      local out = {}
      for _, n in ipairs({ 'ns\\0x', 'workflows', 'jobs', 'jobs_state', 'agents' }) do
        local ok, e = pcall(Storage.namespace, n)
        out[#out + 1] = ok and 'opened' or e.code
      end
      return out
    """)
    assert v == [4002, 4008, 4008, 4008, 4008]
    assert rt.kv("workflows").list() == [run_id]      # the runtime's own records are intact


def test_sec_js_nul_and_internal_namespaces_are_refused(rt):
    v = rt.run("""
      const codes = [];
      for (const f of [() => Storage.set("ns\\u0000k", 1), () => Storage.get("ns\\u0000k"),
                       () => Storage.list("ns\\u0000"), () => Storage.setBatch({ "ns\\u0000k": 1 }),
                       () => Storage.transaction((tx) => tx.set("ns\\u0000k", 1)),
                       () => Storage.namespace("ns\\u0000x"), () => Storage.namespace("workflows"),
                       () => Storage.namespace("jobs"), () => Storage.namespace("agents"),
                       () => Storage.namespace("jobs_state")]) {
        try { await f(); codes.push("ok"); } catch (e) { codes.push(e.code); }
      }
      return codes;
    """, "js")
    assert v == [2002, 2002, 2002, 2002, 2002, 4002, 4008, 4008, 4008, 4008]
    assert rt.kv("ns").list() == [] and rt.kv("workflows").list() == []


def test_sec_a_spell_namespace_with_another_name_still_works_and_state_sees_internal(project):
    (project / "s.lua").write_text("Storage.namespace('crawler').set('k', 1)\n"
                                   "Workflow.sequential({ name = 'w', checkpoint = true, steps = { "
                                   "{ name = 's', run = function() return 1 end } } }):execute({})")
    assert cli("run", "s.lua", cwd=project).returncode == 0
    assert cli("state", "get", "k", "-n", "crawler", cwd=project).stdout.strip() == "1"
    runs = cli("state", "list", "-n", "workflows", cwd=project).stdout.split()   # the admin may look
    assert len(runs) == 1 and runs[0] in cli("runs", "list", cwd=project).stdout


def test_sec_every_internal_namespace_is_reserved():
    """Every `.kv("name")` the package itself opens is in INTERNAL_NAMESPACES (so spells
    cannot open it), and the storage layer's idea of the event prefix is the bus's."""
    from llmspell.core.events import EVENT_PREFIX
    from llmspell.storage.base import EVENT_PREFIX as STORAGE_EVENT_PREFIX
    from llmspell.storage.base import INTERNAL_NAMESPACES
    assert EVENT_PREFIX == STORAGE_EVENT_PREFIX
    root = Path(__file__).resolve().parents[2] / "llmspell"
    used = set()
    for f in root.rglob("*.py"):
        used |= set(re.findall(r"\.kv\(\s*[\"'](\w+)[\"']", f.read_text()))
    assert used and used <= INTERNAL_NAMESPACES, used - INTERNAL_NAMESPACES


# ---- L4: one wait


HOLD = textwrap.dedent("""
    import sys, time, plyvel
    db = plyvel.DB(sys.argv[1], create_if_missing=True)
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def test_sec_a_blocked_writer_fails_after_lock_timeout_once(project):
    (project / "llmspell.toml").write_text('[storage]\nlock_timeout = "2s"\n')
    (project / "w.lua").write_text("Storage.set('x', 1)")
    (project / DATA).mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(project / DATA), "30"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        t0 = time.perf_counter()
        r = cli("run", "w.lua", cwd=project)      # the spell's write, then its events at exit
        took = time.perf_counter() - t0
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 1
    line = _one_error_line(r)
    assert "6002" in line and "in use by another llmspell process" in line and "waited 2s" in line
    assert 1.9 < took < 3.5, f"waited {took:.2f}s for a 2s lock_timeout"


def test_sec_a_later_access_waits_again(project):
    """Only the accesses right after a wait ran out skip waiting; later ones wait afresh."""
    (project / "llmspell.toml").write_text('[storage]\nlock_timeout = "1s"\n[events]\npersist = false\n')
    (project / DATA).mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(project / DATA), "30"],
                              stdout=subprocess.PIPE, text=True)
    rt = Runtime(cwd=project)
    try:
        assert holder.stdout.readline().strip() == "ready"
        for expect in (1.0, 0.0, None):
            if expect is None:
                time.sleep(1.1)
                expect = 1.0
            t0 = time.perf_counter()
            with pytest.raises(SpellFailed) as ei:
                rt.run("Storage.get('x')")
            assert ei.value.code == 6002
            assert expect - 0.05 < time.perf_counter() - t0 < expect + 0.45
    finally:
        holder.kill()
        holder.wait()
        rt.close()


# ---- unclear errors: one readable line, the right code and exit status


def test_sec_config_that_is_not_text(project):
    (project / "x.lua").write_text("print(1)")
    r = cli("--config", "/bin/ls", "run", "x.lua", cwd=project)
    assert r.returncode == 2
    line = _one_error_line(r)
    assert "[6001 ConfigurationInvalid]" in line and "/bin/ls" in line and "not a TOML file" in line


@pytest.mark.parametrize("name", ["missing.json", "binary"])
def test_sec_state_import_of_a_missing_or_binary_file(project, name):
    (project / "binary").write_bytes(bytes(range(256)) * 4)
    r = cli("state", "import", name, cwd=project)
    assert r.returncode == 2
    line = _one_error_line(r)
    assert name in line and ("cannot read" in line or "not UTF-8" in line)


@pytest.mark.parametrize("engine", ["lua", "js"])
def test_sec_param_too_big_for_64_bits_stays_text(project, engine):
    big = "123456789012345678901234567890"
    (project / f"p.{engine}").write_text("print(params.a, params.b[2])" if engine == "lua"
                                         else "print(params.a, params.b[1]);")
    r = cli("run", f"p.{engine}", "--param", f"a={big}", "--param", f"b=[1, -{big}]", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [big, f"-{big}"]


@pytest.mark.parametrize("toml,key", [
    ('[security]\nmax_memory = 0\n', "security.max_memory = 0"),
    ('[security]\nmax_memory = -1\n', "security.max_memory = -1"),
    ('[security]\nmax_memory = "0MB"\n', 'security.max_memory = "0MB"'),
    ('[security]\nmax_execution_time = 0\n', "security.max_execution_time = 0"),
    ('[security]\nmax_execution_time = "-5s"\n', "security.max_execution_time"),
    ('[storage]\nlock_timeout = -5\n', "storage.lock_timeout = -5"),
    ('[hooks]\ntimeout = 0\n', "hooks.timeout = 0"),
])
def test_sec_nonsensical_limits_are_refused(project, toml, key):
    (project / "llmspell.toml").write_text(toml)
    (project / "x.lua").write_text("print(1)")
    r = cli("run", "x.lua", cwd=project)
    assert r.returncode == 2 and r.stdout == ""
    assert "[6001 ConfigurationInvalid]" in _one_error_line(r)
    assert key in r.stderr and ("more than 0" in r.stderr or "negative" in r.stderr or "duration" in r.stderr)


def test_sec_lock_timeout_zero_is_allowed(project):
    (project / "llmspell.toml").write_text('[storage]\nlock_timeout = 0\n')
    (project / "x.lua").write_text("Storage.set('a', 1) print(Storage.get('a'))")
    r = cli("run", "x.lua", cwd=project)
    assert r.returncode == 0 and r.stdout == "1\n", r.stderr
