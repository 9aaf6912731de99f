"""Configuration layers, ${VAR} expansion and validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmspell.config import load_config
from llmspell.errors import ConfigError


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
