"""Storage over real LevelDB and memory; namespaces, transactions, two processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from llmspell import Runtime, SpellFailed
from tests.conftest import make_rt


def test_values_survive_the_process(project, rt):
    rt.run("Storage.set('user:1', { name = 'Ada', langs = {'lua', 'js'} })\nStorage.set('n', 42)")
    rt.close()
    rt2 = Runtime(cwd=project)
    try:
        assert rt2.run("return Storage.get('user:1')") == {"name": "Ada", "langs": ["lua", "js"]}
        assert rt2.run("return {Storage.exists('n'), Storage.exists('zzz')}") == [True, False]
    finally:
        rt2.close()
    assert (project / ".llmspell" / "data" / "CURRENT").exists()


def test_list_delete_batch(lua):
    v = lua("""
      Storage.set_batch({ ['user:2'] = 'b', ['user:1'] = 'a', ['other'] = 1 })
      local keys = Storage.list('user:')
      local deleted = Storage.delete('user:1')
      local again = Storage.delete('user:1')
      return { keys, deleted, again, Storage.get_batch({ 'user:2', 'other' }), Storage.list() }
    """)
    assert v == [["user:1", "user:2"], True, False, {"user:2": "b", "other": 1}, ["other", "user:2"]]


def test_namespaces_are_isolated(lua):
    v = lua("""
      local ns = Storage.namespace('crawler')
      ns.set('k', 'inside'); Storage.set('k', 'outside')
      ns:set('j', 1)
      return { ns.get('k'), Storage.get('k'), ns.list(), Storage.list(), ns.name }
    """)
    assert v == ["inside", "outside", ["j", "k"], ["k"], "crawler"]


def test_transaction_commits_all(lua):
    lua("Storage.set('b', 'old')\nStorage.transaction(function(tx) tx.set('a', 1); tx.delete('b'); "
        "assert(tx.get('a') == 1) end)")
    assert lua("return {Storage.get('a'), Storage.get('b')}") == [1]


def test_transaction_failure_writes_nothing(lua):
    v = lua("""
      Storage.set('balance', 100)
      local ok, e = pcall(Storage.transaction, function(tx)
        tx.set('balance', 0); tx.set('audit', 'moved'); error('network down')
      end)
      return { ok, Storage.get('balance'), Storage.get('audit') }
    """)
    assert v == [False, 100]


def test_state_changed_events(lua):
    lua("Events.subscribe('state.changed', function(ev) print(ev.data.op, ev.data.key) end)\n"
        "Storage.set('a', 1)\nStorage.delete('a')")
    assert lua.lines == ["set\ta", "delete\ta"]


def test_unstorable_values_are_refused(lua):
    with pytest.raises(SpellFailed, match="cannot be stored"):
        lua("Storage.set('f', 0/0)")


def test_memory_backend(project):
    rt = make_rt(project, '[storage]\nbackend = "memory"\n[events]\npersist = false\n')
    assert rt.run("Storage.set('x', 1) return Storage.get('x')") == 1
    assert rt.run("return Storage.get('x')") == 1   # same runtime, same memory
    assert not (project / ".llmspell").exists()


HOLDER = textwrap.dedent("""
    import sys, time
    from llmspell import Runtime
    rt = Runtime(cwd=sys.argv[1])
    rt.run("Storage.set('held', 'by-first')")
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
    rt.close()
""")


def test_second_process_waits_then_writes(project):
    """A designed hand-off: the second process waits for the lock instead of corrupting data."""
    (project / "llmspell.toml").write_text('[storage]\nlock_timeout = "20s"\n')
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(project), "1.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        t0 = time.perf_counter()
        rt = Runtime(cwd=project)
        rt.run("Storage.set('second', 'written')")
        waited = time.perf_counter() - t0
        rt.close()
        assert waited > 0.5   # it really waited for the other process
        rt = Runtime(cwd=project)
        assert rt.run("return {Storage.get('held'), Storage.get('second')}") == ["by-first", "written"]
        rt.close()
    finally:
        p.wait(10)


def test_second_process_gets_a_clear_error_after_timeout(project):
    (project / "llmspell.toml").write_text('[storage]\nlock_timeout = "0.3s"\n')
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(project), "5"], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        rt = Runtime(cwd=project)
        with pytest.raises(SpellFailed) as ei:
            rt.run("Storage.set('x', 1)")
        assert ei.value.code == 6002 and "in use by another llmspell process (pid" in ei.value.message
    finally:
        p.kill()
        p.wait()


def test_idle_run_hands_the_database_over(project):
    """While a long run does not touch storage, another process may use it."""
    (project / "llmspell.toml").write_text('[storage]\nlock_timeout = "1s"\n')
    (project / "long.lua").write_text("Storage.set('a', 1)\nprint('ready')\nAsync.sleep(4)\n"
                                      "print(Storage.get('from_other'))\n")
    p = subprocess.Popen([sys.executable, "-m", "llmspell", "run", "long.lua"], cwd=project,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(1.2)    # past the 0.5 s idle check
        r = subprocess.run([sys.executable, "-m", "llmspell", "state", "set", "from_other", "hello"],
                           cwd=project, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert out.strip() == "hello"   # the long run reopened the database and saw the other write
    finally:
        if p.poll() is None:
            p.kill()


def test_state_repair_of_a_healthy_store_keeps_everything(project):
    from tests.conftest import cli
    (project / "s.lua").write_text("Storage.set('a', 1) Storage.namespace('ns').set('b', 2)")
    assert cli("run", "s.lua", cwd=project).returncode == 0
    r = cli("--json", "state", "repair", cwd=project)
    assert r.returncode == 0, r.stderr
    import json
    report = json.loads(r.stdout)
    assert report["main"] == 1 and report["namespaces"] == {"ns": 1}
    assert json.loads(cli("state", "export", cwd=project).stdout) == {"": {"a": 1}, "ns": {"b": 2}}


def test_state_repair_needs_a_leveldb_store(project):
    from tests.conftest import cli
    (project / "llmspell.toml").write_text('[storage]\nbackend = "memory"\n')
    r = cli("state", "repair", cwd=project)
    assert r.returncode == 2 and "only LevelDB" in r.stderr
    (project / "llmspell.toml").write_text('[storage]\npath = "nothing-here"\n')
    r = cli("state", "repair", cwd=project)
    assert r.returncode == 1 and "no storage to repair" in r.stderr


def test_keys_are_described_as_people_know_them():
    from llmspell.storage.base import describe_key, describe_range
    assert describe_key(b"kv/user:1") == "key 'user:1'"
    assert describe_key(b"kv/ns\x00k") == "key 'k' in namespace 'ns'"
    assert describe_key(b"__events__/0001") == "event '0001'"
    assert describe_range(b"kv/") == "all keys in the main namespace"
    assert describe_range(b"kv/ns\x00user:", b"kv/ns\x00user:9") == (
        "keys starting with 'user:' in namespace 'ns', after key 'user:9' in namespace 'ns'")
    assert describe_range(b"__events__/") == "the event history"


def test_log_tail_check(tmp_path):
    """A record cut short at the end is a crash (fine); a header no writer makes is damage."""
    import struct

    from llmspell.storage.leveldb import check_log_tail
    rec = struct.pack("<IHB", 0, 5, 1) + b"hello"
    log = tmp_path / "000001.log"
    for body, ok in [(rec * 3, True), (rec * 2 + rec[:9], True), (rec * 2 + rec[:4], True),
                     (rec + bytes(7) + rec, False), (rec + bytes(20), True),
                     (rec + struct.pack("<IHB", 0, 5, 9) + b"hello", False),
                     (rec + struct.pack("<IHB", 0, 40000, 1), False), (b"", True)]:
        log.write_bytes(body)
        assert (check_log_tail(log) is None) is ok, body
