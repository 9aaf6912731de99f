"""Issue 10, item 9: secrets (findings S1, S3).

S1  environment_reader masks every variable whose name looks secret (KEY, TOKEN,
    SECRET, PASS, AUTH, CREDENTIAL…), allow-listed or not, whatever the spell asks
    (`mask_sensitive = false`, `pattern`, the default listing), and passwords in URLs.
S3  the validated-config cache holds no expanded secret (API keys, the serve token,
    values made from secret-looking `${VAR}`s, secrets from LLMSPELL_* variables): not
    in its files, not in its key; it lives in folders only the user can enter and
    removes the old cache format, which held them. A cache hit still needs no pydantic
    and gives the live secret values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import cli

SECRETS = {
    "LLMSPELL_DB_PASS": "pass-0451",
    "LLMSPELL_KEY": "key-0451",
    "LLMSPELL_AUTH": "auth-0451",
    "LLMSPELL_API_TOKEN": "token-0451",
    "LLMSPELL_CLIENT_SECRET": "secret-0451",
    "LLMSPELL_CREDENTIALS": "cred-0451",
    "LLMSPELL_ApiKey": "camel-0451",
    "MY_PASSWORD": "pw-0451",
}
PLAIN = {"LLMSPELL_MODE": "fast", "LLMSPELL_MAX_TOKENS": "100", "LANG": "C.UTF-8"}


def _env_tool(project: Path, inp: dict, env: dict[str, str]) -> dict:
    r = cli("--json", "tools", "run", "environment_reader", "--input", json.dumps(inp), cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["result"]


def test_sec_environment_reader_masks_secret_names_even_when_allow_listed(project):
    (project / "llmspell.toml").write_text(
        '[security]\nallowed_env = ["LLMSPELL_*", "MY_PASSWORD", "LANG", "DATABASE_URL"]\n')
    env = {**SECRETS, **PLAIN, "DATABASE_URL": "postgres://app:pg-0451@db:5432/app"}
    for inp in ({"variables": [*SECRETS, *PLAIN, "DATABASE_URL"], "mask_sensitive": False},
                {"pattern": "*", "mask_sensitive": False}, {}):
        got = _env_tool(project, inp, env)["variables"]
        for name in SECRETS:
            assert got[name] == "********", (inp, name)
        for name, value in PLAIN.items():
            assert got.get(name) == value, (inp, name)
        assert got["DATABASE_URL"] == "postgres://app:********@db:5432/app"
        assert "0451" not in json.dumps(got)


def test_sec_environment_reader_in_a_spell(project):
    (project / "e.lua").write_text(
        'local r = Tools.get("environment_reader"):execute({ variables = { "LLMSPELL_KEY", "LLMSPELL_MODE" },'
        ' mask_sensitive = false }).result.variables\nprint(r.LLMSPELL_KEY, r.LLMSPELL_MODE)')
    r = cli("run", "e.lua", cwd=project, env={"LLMSPELL_KEY": "key-0451", "LLMSPELL_MODE": "fast"})
    assert r.returncode == 0 and r.stdout.split() == ["********", "fast"], r.stderr


# ---- S3: the config cache


CONFIG = """\
[providers.openai]
api_key = "${S3_OPENAI_KEY}"
base_url = "http://127.0.0.1:9/v1"
[providers.proxy]
base_url = "https://user:${S3_PROXY_PASSWORD}@proxy.example/v1"
header = "Bearer ${S3_BEARER_TOKEN}"
[serve]
token = "${S3_SERVE_TOKEN:-default-serve-0451}"
port = 8181
[security]
max_memory = "64MB"
"""
VALUES = {"S3_OPENAI_KEY": "sk-openai-0451", "S3_PROXY_PASSWORD": "proxy-pw-0451",
          "S3_BEARER_TOKEN": "bearer-0451", "S3_SERVE_TOKEN": "serve-0451",
          "LLMSPELL_PROVIDERS__OTHER__API_KEY": "sk-other-0451"}

LOAD = (
    "import sys, json, pathlib\n"
    "from llmspell.config import load_config\n"
    "c = load_config(cwd=pathlib.Path(sys.argv[1]))\n"
    "s = c.settings\n"
    "print(json.dumps({'pydantic': 'pydantic' in sys.modules, 'openai': s.providers.tables['openai']['api_key'],"
    " 'other': s.providers.tables['other']['api_key'], 'proxy': s.providers.tables['proxy'],"
    " 'token': s.serve.token, 'port': s.serve.port, 'mem': s.security.max_memory}))\n")


def _cache_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()]


def _load(project: Path, env: dict[str, str]) -> dict:
    r = subprocess.run([sys.executable, "-c", LOAD, str(project)], env={**os.environ, **env},
                       cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_sec_config_cache_holds_no_expanded_secret(project, tmp_path, monkeypatch):
    cache = tmp_path / "own-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    legacy = cache / "llmspell" / "config"
    legacy.mkdir(parents=True)
    (legacy / "0123.json").write_text('{"serve": {"token": "legacy-0451"}}')   # the old format
    os.chmod(cache / "llmspell", 0o755)
    (project / "llmspell.toml").write_text(CONFIG)
    (project / "hello.lua").write_text('print("hi")')
    for _ in range(2):
        r = cli("run", "hello.lua", cwd=project, env=VALUES)
        assert r.returncode == 0 and r.stdout == "hi\n", r.stderr
    files = _cache_files(cache)
    assert files, "nothing was cached"
    for f in files:
        text = f.read_text(errors="replace")
        assert "0451" not in text, f"{f} holds a secret: {text[:300]}"
        assert f.stat().st_mode & 0o077 == 0
    for d in (cache / "llmspell", legacy, legacy / "v2"):
        assert d.stat().st_mode & 0o077 == 0, d
    assert not (legacy / "0123.json").exists(), "the old cache (with secrets) was left"

    # a cache hit: no pydantic, the live secrets, and a changed secret is no new entry
    got = _load(project, VALUES)
    assert got == {"pydantic": False, "openai": "sk-openai-0451", "other": "sk-other-0451",
                   "proxy": {"base_url": "https://user:proxy-pw-0451@proxy.example/v1",
                             "header": "Bearer bearer-0451"},
                   "token": "serve-0451", "port": 8181, "mem": 64_000_000}
    changed = {**VALUES, "S3_OPENAI_KEY": "sk-rotated-0451", "S3_SERVE_TOKEN": ""}
    got = _load(project, changed)
    assert not got["pydantic"] and got["openai"] == "sk-rotated-0451" and got["token"] == "default-serve-0451"
    assert sorted(_cache_files(cache)) == sorted(files)
    assert all("0451" not in f.read_text(errors="replace") for f in _cache_files(cache))


def test_sec_config_cache_key_follows_the_type_of_a_secret(project, tmp_path, monkeypatch):
    """A secret of another type is validated again (serve.token must be a string)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    from llmspell.config import load_config
    from llmspell.errors import ConfigError
    (project / "llmspell.toml").write_text('[serve]\ntoken = "abc"\n')
    assert load_config(cwd=project, env={}).settings.serve.token == "abc"
    (project / "llmspell.toml").write_text('[serve]\ntoken = 12345\n')
    with pytest.raises(ConfigError) as ei:
        load_config(cwd=project, env={})
    assert "serve.token" in ei.value.message and "12345" not in ei.value.message


@pytest.mark.parametrize("name,secret", [
    ("LLMSPELL_DB_PASS", True), ("LLMSPELL_KEY", True), ("LLMSPELL_AUTH", True), ("GITHUB_TOKEN", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("apiKey", True), ("X-Auth-Token", True), ("DB_PASSWORD", True),
    ("GOOGLE_APPLICATION_CREDENTIALS", True), ("HF_TOKENS", True), ("SESSION_COOKIE", True),
    ("PWD", False), ("PATH", False), ("KEYBOARD", False), ("max_tokens", False), ("AUTHOR", False),
    ("allow_private_network", False), ("max_memory", False),
])
def test_sec_secret_names(name, secret):
    from llmspell.config import is_secret_name
    assert is_secret_name(name) is secret
