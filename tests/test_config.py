"""Configuration layers, ${VAR} expansion and validation errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from llmspell.config import load_config
from llmspell.errors import ConfigError, exit_code_for


def test_defaults_when_nothing_is_configured(tmp_path):
    cfg = load_config(cwd=tmp_path, env={}, user_file=tmp_path / "none.toml")
    s = cfg.settings
    assert s.storage.backend == "leveldb" and s.security.max_memory == 256_000_000
    assert s.security.max_execution_time == 300.0 and s.security.allowed_paths == ["."]


def test_precedence_user_project_file_env_flags(tmp_path):
    user = tmp_path / "user.toml"
    user.write_text('[serve]\nport = 1000\nhost = "0.0.0.0"\n[nats]\ntenant = "u"\n')
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "llmspell.toml").write_text('[serve]\nport = 2000\n[observability]\nlog_level = "debug"\n')
    extra = tmp_path / "extra.toml"
    extra.write_text('[serve]\nport = 3000\n')
    cfg = load_config(extra, cwd=proj / "sub", user_file=user,
                      env={"LLMSPELL_SERVE__PORT": "4000", "LLMSPELL_PROVIDERS__DEFAULT": "anthropic/x"},
                      overrides={"observability.log_level": "error"})
    s = cfg.settings
    assert s.serve.port == 4000 and s.serve.host == "0.0.0.0" and s.nats.tenant == "u"
    assert s.providers.default == "anthropic/x" and s.observability.log_level == "error"
    assert load_config(extra, cwd=proj / "sub", user_file=user, env={}).settings.serve.port == 3000
    assert load_config(None, cwd=proj / "sub", user_file=user, env={}).settings.serve.port == 2000
    assert load_config(None, cwd=proj / "sub", user_file=user, env={}).root == proj


def test_env_expansion_with_defaults(tmp_path):
    (tmp_path / "llmspell.toml").write_text(
        '[providers.openai]\napi_key = "${OPENAI_KEY}"\nbase_url = "${BASE:-http://127.0.0.1:1/v1}"\n'
        '[nats]\nurl = "${NATS_URL:-nats://x:4222}"\n')
    cfg = load_config(cwd=tmp_path, env={"OPENAI_KEY": "sk-1", "NATS_URL": "nats://y:1"}, user_file=tmp_path / "n")
    raw = cfg.get("providers.openai", masked=False)
    assert raw == {"api_key": "sk-1", "base_url": "http://127.0.0.1:1/v1"}
    assert cfg.get("providers.openai.api_key") == "********"
    assert cfg.settings.nats.url == "nats://y:1"


@pytest.mark.parametrize("toml,needles", [
    ('[storage]\nbackend = "sqlite"\n', ["storage.backend", '"sqlite"', "'leveldb'", "'memory'"]),
    ('[security]\nmax_memory = "lots"\n', ["security.max_memory", '"lots"', "256MB"]),
    ('[security]\nmax_execution_time = "soon"\n', ["security.max_execution_time", "duration"]),
    ('[serve]\nport = 70000\n', ["serve.port", "70000", "65535"]),
    ('[storage]\nbakend = "memory"\n', ["storage.bakend", "unknown key", "backend"]),
])
def test_invalid_values_name_key_value_and_allowed(tmp_path, toml, needles):
    (tmp_path / "llmspell.toml").write_text(toml)
    with pytest.raises(ConfigError) as ei:
        load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n")
    for n in needles:
        assert n in ei.value.message, (n, ei.value.message)


def test_invalid_toml(tmp_path):
    (tmp_path / "llmspell.toml").write_text("[storage\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n")


def test_secret_values_never_appear_in_errors(tmp_path):
    (tmp_path / "llmspell.toml").write_text('[serve]\ntoken = 12345678\nport = "x"\n')
    with pytest.raises(ConfigError) as ei:
        load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n")
    assert "12345678" not in ei.value.message


def test_the_shipped_example_config_is_valid():
    root = Path(__file__).resolve().parent.parent
    cfg = load_config(root / "llmspell.toml", cwd=root, env={}, user_file=root / "none")
    assert cfg.settings.storage.backend in ("leveldb", "memory")


# ---- typed settings, the validation cache, removed keys


def test_settings_are_typed_dataclass_instances(tmp_path):
    import dataclasses

    from llmspell import config_models as m
    (tmp_path / "llmspell.toml").write_text(
        '[security]\nmax_memory = "1GiB"\nmax_execution_time = "2m"\n'
        '[providers.openai]\napi_key = "sk-1"\n[tools]\nhttp_timeout = "5s"\n[tools.web]\nkey = 1\n'
        '[budget]\nmax_tokens = 100\n')
    s = load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n").settings
    assert isinstance(s, m.Settings) and dataclasses.is_dataclass(s)
    assert isinstance(s.security, m.SecurityConfig) and dataclasses.is_dataclass(s.security)
    assert isinstance(s.security.max_memory, int) and s.security.max_memory == 1024**3
    assert isinstance(s.security.max_execution_time, float) and s.security.max_execution_time == 120.0
    assert isinstance(s.tools, m.ToolsConfig) and s.tools.http_timeout == 5.0
    assert s.budget.max_tokens == 100 and s.budget.max_cost is None
    # free-form sub tables have a typed home, keyed by name; the TOML shape is unchanged
    assert s.providers.tables == {"openai": {"api_key": "sk-1"}} and s.providers.default == "mock/echo"
    assert s.tools.tables == {"web": {"key": 1}}
    assert [f.name for f in dataclasses.fields(s.security)] == [
        "allowed_paths", "denied_paths", "allowed_domains", "allow_private_network", "max_memory",
        "max_execution_time", "allowed_env"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.security.max_memory = 1          # type: ignore[misc]
    assert "sk-1" not in repr(s)           # sub tables (api keys) stay out of repr
    assert not hasattr(s, "get") and not isinstance(s, dict)


def test_get_returns_plain_data_in_the_toml_shape(tmp_path):
    (tmp_path / "llmspell.toml").write_text(
        '[providers.openai]\napi_key = "sk-1"\n[tools.web]\nkey = 1\n[serve]\ntoken = "t"\n')
    cfg = load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n")
    assert cfg.get("providers") == {"default": "mock/echo", "openai": {"api_key": "********"}}
    assert cfg.get("tools", masked=False) == {"http_timeout": 30.0, "max_file_size": 10_000_000,
                                              "web": {"key": 1}}
    assert cfg.get("serve.token") == "********" and cfg.get("serve.port") == 8080
    assert cfg.get("providers.tables") is None and cfg.get("nope.x") is None
    whole = cfg.get(masked=False)
    assert whole["security"]["max_memory"] == 256_000_000 and "allow_process" not in whole["security"]
    whole["providers"]["openai"]["api_key"] = "changed"        # a copy: settings are untouched
    assert cfg.settings.providers.tables["openai"]["api_key"] == "sk-1"
    from llmspell.providers import provider_settings
    p = provider_settings(cfg, "openai")
    p["api_key"] = "x"
    assert provider_settings(cfg, "openai") == {"api_key": "sk-1"} and provider_settings(cfg, "none") == {}


def test_a_provider_entry_must_be_a_table(tmp_path):
    (tmp_path / "llmspell.toml").write_text('[providers]\nopenai = "sk-1"\n')
    with pytest.raises(ConfigError) as ei:
        load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n")
    assert 'providers.openai = "********": Input should be a valid dictionary' in ei.value.message
    assert "sk-1" not in ei.value.message       # whatever is in a provider's table may be a secret


def test_a_damaged_cache_entry_is_validated_again(tmp_path, monkeypatch):
    import llmspell.config as config
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "llmspell.toml").write_text('[serve]\nport = 1234\n')
    assert load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n").settings.serve.port == 1234
    [entry] = (tmp_path / "cache" / "llmspell" / "config" / "v2").glob("*.json")
    for damaged in ("[]", '{"serve": 5}', '{"serve": {"nope": 1}}', "{"):
        entry.write_text(damaged)
        assert load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n").settings.serve.port == 1234
    assert config._cache_path(load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n").raw) == entry


def test_a_cache_hit_equals_validation_and_does_not_import_pydantic(tmp_path):
    import subprocess
    import sys
    (tmp_path / "llmspell.toml").write_text(
        '[security]\nmax_memory = "64MB"\n[providers.openai]\napi_key = "sk-1"\n[tools.web]\nkey = 1\n')
    code = (
        "import sys, json, pathlib\n"
        "from llmspell.config import load_config\n"
        "c = load_config(cwd=pathlib.Path(sys.argv[1]), env={}, user_file=pathlib.Path(sys.argv[1], 'none'))\n"
        "print(json.dumps({'pydantic': 'pydantic' in sys.modules, 'repr': repr(c.settings),"
        " 'mem': c.settings.security.max_memory, 'tables': c.settings.providers.tables}))\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    runs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, cwd=Path(__file__).parent.parent,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout))
    assert runs[0]["pydantic"] is True            # first sight: validated by pydantic
    assert runs[1]["pydantic"] is False, "a cache hit imported pydantic"
    assert runs[0]["repr"] == runs[1]["repr"] and runs[1]["mem"] == 64_000_000
    assert runs[1]["tables"] == {"openai": {"api_key": "sk-1"}}
    files = list((tmp_path / "cache" / "llmspell" / "config" / "v2").glob("*.json"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o077 == 0
    assert "sk-1" not in files[0].read_text()     # the api key is put back from the live config


def test_the_cache_key_follows_the_declaration_of_the_settings(tmp_path, monkeypatch):
    import shutil

    import llmspell.config as config
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    before = config._cache_path({"a": 1})
    for name in ("config_models.py", "units.py"):
        shutil.copy(Path(config.__file__).with_name(name), tmp_path / name)
    monkeypatch.setattr(config, "__file__", str(tmp_path / "config.py"))
    assert config._cache_path({"a": 1}) == before            # same declaration, same key
    with open(tmp_path / "config_models.py", "a") as f:
        f.write("\n# changed\n")
    assert config._cache_path({"a": 1}) != before
    assert str(before).startswith(str(tmp_path / "cache" / "llmspell" / "config"))


def test_allow_process_is_gone_and_an_old_config_says_so(tmp_path):
    from llmspell.config import STARTER
    assert "allow_process" not in STARTER
    (tmp_path / "llmspell.toml").write_text(STARTER)
    load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n")          # the starter is valid
    (tmp_path / "llmspell.toml").write_text('[security]\nallowed_paths = ["."]\nallow_process = false\n')
    with pytest.raises(ConfigError) as ei:
        load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n")
    assert exit_code_for(ei.value) == 2
    assert ("security.allow_process = false: unknown key (allowed here: allowed_paths, denied_paths, "
            "allowed_domains, allow_private_network, max_memory, max_execution_time, allowed_env)") in ei.value.message


def test_limits_and_durations_are_checked(tmp_path):
    for toml, needle in [('[security]\nmax_memory = 0\n', "a memory limit must be more than 0"),
                         ('[security]\nmax_execution_time = "0s"\n', "a time limit must be more than 0"),
                         ('[storage]\nlock_timeout = -1\n', "a duration must not be negative"),
                         ('[tools]\nmax_file_size = -1\n', "a size must not be negative"),
                         ('[security]\nmax_memory = inf\n', "expected a size")]:
        (tmp_path / "llmspell.toml").write_text(toml)
        with pytest.raises(ConfigError) as ei:
            load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n")
        assert needle in ei.value.message and "Value error" not in ei.value.message
    (tmp_path / "llmspell.toml").write_text('[storage]\nlock_timeout = 0\n[security]\nmax_execution_time = "250ms"\n')
    s = load_config(cwd=tmp_path, env={}, user_file=tmp_path / "n").settings
    assert s.storage.lock_timeout == 0 and s.security.max_execution_time == 0.25


def test_a_config_file_that_is_not_text(tmp_path):
    (tmp_path / "bin.toml").write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe")
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path / "bin.toml", cwd=tmp_path, env={}, user_file=tmp_path / "n")
    assert "not a TOML file (not UTF-8 text" in ei.value.message


def test_secret_paths_cover_names_and_secret_variables():
    from llmspell.config import secret_paths
    data = {"providers": {"openai": {"api_key": "x", "base_url": "https://u:pw@h"}}, "serve": {"token": "t"},
            "tools": {"web": {"headers": ["plain", "Bearer tok"]}}}
    template = {"providers": {"openai": {"api_key": "${K}", "base_url": "https://u:${DB_PASS}@h"}},
                "tools": {"web": {"headers": ["plain", "Bearer ${WEB_TOKEN}"]}}}
    assert sorted(secret_paths(data, template)) == sorted([
        ("providers", "openai", "api_key"), ("providers", "openai", "base_url"), ("serve", "token"),
        ("tools", "web", "headers", 1)])
