"""Configuration: the layered loader, validation (cached) and secret masking.

The settings are typed: `Config.settings` is a `config_models.Settings`
(standard-library dataclasses declared once in config_models.py). pydantic
validates a configuration the first time it is seen; the result is cached, so
an unchanged configuration is rebuilt without importing pydantic. The cache
holds no secret: values under secret-looking keys, and values made from
secret-looking `${VAR}`s, are left out of the cache (and of its key) and put
back from the live configuration on every load.

Precedence (later wins): built-in defaults < ~/.config/llmspell/llmspell.toml <
nearest ./llmspell.toml up the tree < --config FILE < LLMSPELL_* env < flags.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from .config_models import Settings, build, is_tables, route, section_type, to_plain
from .errors import ConfigError
from .version import __version__


class Config:
    """The merged, validated configuration plus where it came from."""

    def __init__(self, data: dict[str, Any], root: Path, sources: list[str],
                 template: dict[str, Any] | None = None) -> None:
        self.raw = data
        self.root = root
        self.sources = sources
        # template: the merged files before ${VAR} expansion (tells which values came from which variables)
        self.settings: Settings = _validate(data, sources, template)

    def resolve(self, p: str | Path) -> Path:
        """Paths in config are relative to the project root (the config's folder)."""
        path = Path(os.path.expanduser(str(p)))
        return path if path.is_absolute() else (self.root / path)

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.settings.storage.path)

    def get(self, dotted: str | None = None, *, masked: bool = True) -> Any:
        """A value of the settings by dotted key, as plain JSON data in the TOML's
        shape (`providers.openai` is that table); None when absent."""
        value: Any = to_plain(self.settings)
        if dotted:
            for part in dotted.split("."):
                if isinstance(value, dict) and part in value:
                    value = value[part]
                else:
                    return None
        return mask_secrets(value, dotted or "") if masked else value


# A name is secret when it contains one of these anywhere (`GITHUBTOKEN`, `db_password`;
# not the counts `max_tokens`, `total_tokens`…) or has one of the short words as a
# word of its own (`LLMSPELL_KEY`, `apiKey`, `DB_PASS`, `X-Auth`, not `KEYBOARD`).
SECRET_WORDS = ("apikey", "api_key", "token", "secret", "password", "passwd", "passphrase", "credential",
                "private_key", "privatekey", "access_key", "accesskey", "cookie", "auth")
SHORT_SECRET_WORDS = ("key", "keys", "pass", "pwd", "pw", "cred", "creds", "pin", "dsn")
_NOT_SECRET = ("pwd", "oldpwd")      # the shell's working directories


def is_secret_name(name: str) -> bool:
    low = name.lower()
    if low in _NOT_SECRET:
        return False
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    words = re.split(r"[^a-z0-9]+", snake)
    if any(w in SHORT_SECRET_WORDS for w in words):
        return True
    low = re.sub(r"(max|min|total|num|prompt|completion|input|output)_?tokens(?![a-z])", "", low)   # counts
    low = re.sub(r"author(?!i[sz])", "", low)       # author, not authorization
    return any(w in low for w in SECRET_WORDS)


_secret_key = functools.lru_cache(maxsize=4096)(is_secret_name)


def redact(value: Any) -> Any:
    """`value` with what sits under secret-looking keys masked, for events, history
    and logs. Returns `value` itself (no copy) when there is nothing to mask."""
    if isinstance(value, dict):
        out = None
        for k, v in value.items():
            new = mask_value(v) if isinstance(k, str) and _secret_key(k) else redact(v)
            if new is not v:
                if out is None:
                    out = dict(value)
                out[k] = new
        return value if out is None else out
    if isinstance(value, list):
        items = [redact(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    return value


def mask_value(v: Any) -> Any:
    return "********" if v not in (None, "") else v


def mask_secrets(value: Any, key: str = "") -> Any:
    last = key.rsplit(".", 1)[-1]
    if isinstance(value, dict):
        return {k: mask_secrets(v, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, key) for v in value]
    if last and is_secret_name(last):
        return mask_value(value)
    return value


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, env: dict[str, str] | None = None) -> Any:
    env = os.environ if env is None else env
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) if m.group(2) is not None else ""), value)
    if isinstance(value, dict):
        return {k: expand_env(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env) for v in value]
    return value


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a TOML file (not UTF-8 text: byte 0x{e.object[e.start]:02x} "
                          f"at offset {e.start})") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None


def find_project_config(start: Path) -> Path | None:
    for d in [start, *start.parents]:
        f = d / "llmspell.toml"
        if f.is_file():
            return f
    return None


def _env_overrides(env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith("LLMSPELL_") or "__" not in name:
            continue
        parts = [p.lower() for p in name[len("LLMSPELL_"):].split("__") if p]
        if not parts:
            continue
        try:
            val: Any = json.loads(raw)
        except ValueError:
            val = raw
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = val
    return out


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def load_config(
    config_file: str | Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    user_file: Path | None = None,
    data: dict[str, Any] | None = None,
) -> Config:
    """Merge every layer and validate. Raises ConfigError (exit 2) when invalid."""
    env = dict(os.environ) if env is None else env
    cwd = (cwd or Path.cwd()).resolve()
    merged: dict[str, Any] = {}
    sources: list[str] = ["defaults"]
    root = cwd
    user = (
        user_file
        if user_file is not None
        else Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "llmspell" / "llmspell.toml"
    )
    if user.is_file():
        merged = deep_merge(merged, _read_toml(user))
        sources.append(str(user))
    project = find_project_config(cwd)
    if project:
        merged = deep_merge(merged, _read_toml(project))
        sources.append(str(project))
        root = project.parent
    if config_file:
        cf = Path(config_file).expanduser()
        if not cf.is_file():
            raise ConfigError(f"config file not found: {config_file}")
        merged = deep_merge(merged, _read_toml(cf))
        sources.append(str(cf))
        root = cf.resolve().parent
    if data:
        merged = deep_merge(merged, data)
        sources.append("embedded")
    template = merged
    merged = expand_env(merged, env)
    envo = _env_overrides(env)
    if envo:
        merged = deep_merge(merged, envo)
        sources.append("environment")
    if overrides:
        for k, v in overrides.items():
            set_dotted(merged, k, v)
        sources.append("flags")
    return Config(merged, root, sources, template)


def _models_stamp() -> str:
    """Changes whenever the declaration of the settings (or their units) changes."""
    import hashlib
    h = hashlib.sha256(__version__.encode())
    for name in ("config_models.py", "units.py"):
        h.update(Path(__file__).with_name(name).read_bytes())
    return h.hexdigest()


def _json_default(o: Any) -> Any:
    """TOML dates and times become ISO strings (as pydantic's JSON mode writes them)."""
    return o.isoformat() if hasattr(o, "isoformat") else str(o)


# -- the validation cache ----------------------------------------------------------------

Path_ = tuple[Any, ...]         # a path into TOML-shaped data: keys and list indexes
_CACHE_FORMAT = "v2"            # v1 (flat *.json in the folder above) held expanded secrets
_CACHE_KEEP = 256               # entries kept; the least recently written go first


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmspell" / "config" / _CACHE_FORMAT


def _secret_ref(t: Any) -> bool:
    """A template string that uses a secret-looking variable: `"Bearer ${API_TOKEN}"`."""
    return isinstance(t, str) and "${" in t and any(is_secret_name(m.group(1)) for m in _VAR.finditer(t))


def secret_paths(data: Any, template: Any = None) -> list[Path_]:
    """Where the secrets are: under secret-looking keys, or made from secret-looking variables."""
    out: list[Path_] = []

    def walk(node: Any, tmpl: Any, path: Path_) -> None:
        if isinstance(node, dict):
            items: Any = node.items()
            sub = (lambda k: tmpl.get(k)) if isinstance(tmpl, dict) else (lambda k: None)
        elif isinstance(node, list):
            items = enumerate(node)
            sub = (lambda i: tmpl[i] if i < len(tmpl) else None) if isinstance(tmpl, list) else (lambda i: None)
        else:
            return
        for k, v in items:
            t = sub(k)
            if (isinstance(k, str) and is_secret_name(k)) or _secret_ref(t):
                out.append(path + (k,))
            else:
                walk(v, t, path + (k,))

    walk(data, template, ())
    return out


def _at(data: Any, path: Path_) -> Any:
    for p in path:
        data = data[p]
    return data


def _put(data: Any, path: Path_, value: Any) -> None:
    _at(data, path[:-1])[path[-1]] = value


def _tag(v: Any) -> str:
    """What stands for a secret in the cache key and the cache: its type, never its value."""
    return "\x00secret:" + type(v).__name__


def _without(data: Any, paths: list[Path_]) -> Any:
    """A copy of `data` with the value at each path replaced by its tag."""
    out = json.loads(json.dumps(data, default=_json_default))
    for p in paths:
        _put(out, p, _tag(_at(out, p)))
    return out


def _cache_path(data: dict[str, Any], template: Any = None,
                paths: list[Path_] | None = None) -> Path | None:
    """The cache entry of a configuration; the key hashes the data without its secrets."""
    import hashlib
    try:
        keyed = _without(data, secret_paths(data, template) if paths is None else paths)
        stamp = _models_stamp()
        digest = hashlib.sha256((stamp + json.dumps(keyed, sort_keys=True)).encode()).hexdigest()[:32]
    except (OSError, TypeError, ValueError, KeyError, IndexError):
        return None
    return _cache_dir() / f"{digest}.json"


def _validate(data: dict[str, Any], sources: list[str], template: Any = None) -> Settings:
    """Validate with pydantic, or rebuild the result of validating identical input before."""
    paths = secret_paths(data, template)
    cache = _cache_path(data, paths=paths)
    if cache is not None:
        try:
            cached = json.loads(cache.read_text())
            live = json.loads(json.dumps(data, default=_json_default))
            for p in paths:           # the secrets come from the live configuration
                if _at(cached, p) != _tag(_at(live, p)):
                    raise ValueError("secret slot does not match")
                _put(cached, p, _at(live, p))
            return build(Settings, cached)
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            pass
    from pydantic import TypeAdapter, ValidationError
    try:
        checked = TypeAdapter(Settings).validate_python(route(Settings, data))
    except ValidationError as e:
        raise ConfigError(_invalid(e, sources)) from None
    # settings are always rebuilt from this JSON, cache hit or not: both paths give the same
    normalized = json.loads(json.dumps(to_plain(checked), default=_json_default))
    if cache is not None and _cacheable(normalized, data, paths):
        _write_private(cache, json.dumps(_without(normalized, paths)))
    return build(Settings, normalized)


def _cacheable(normalized: Any, data: Any, paths: list[Path_]) -> bool:
    """Only when validation kept every secret as it was (so it can be put back unvalidated)."""
    live = json.loads(json.dumps(data, default=_json_default))
    try:
        return all(_at(normalized, p) == _at(live, p) for p in paths)
    except (KeyError, IndexError, TypeError):
        return False


def _write_private(path: Path, text: str) -> None:
    """Atomically, in folders only the owner can enter, readable by the owner only."""
    try:
        top = path.parent.parent.parent          # …/llmspell
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in (top, top / "config", path.parent):     # (mkdir gives parents the umask's mode)
            try:
                if d.stat().st_mode & 0o077:
                    os.chmod(d, 0o700)
            except OSError:
                pass
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        _tidy(path.parent)
    except OSError:
        pass


def _tidy(folder: Path) -> None:
    """Remove the old cache format (it held expanded secrets) and all but the newest entries."""
    for old in folder.parent.glob("*.json"):
        old.unlink(missing_ok=True)
    entries = list(folder.glob("*.json"))
    if len(entries) > _CACHE_KEEP:
        entries.sort(key=lambda p: p.stat().st_mtime)
        for e in entries[: len(entries) - _CACHE_KEEP // 2]:
            e.unlink(missing_ok=True)


def _invalid(e: Any, sources: list[str]) -> str:
    """The message of a pydantic ValidationError: key = value: what is wrong (or allowed)."""
    lines = []
    for err in e.errors():
        key, free_form = _toml_key(err["loc"])
        value = err.get("input")
        if free_form or is_secret_name(key):      # a provider's table may be all secrets
            value = mask_value(value)
        msg = err["msg"]
        if err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            section = key.rsplit(".", 1)[0] if "." in key else ""
            allowed = ", ".join(_allowed_keys(section))
            msg = f"unknown key (allowed here: {allowed})"
        elif err["type"] == "literal_error":
            msg = f"not allowed; {msg[0].lower()}{msg[1:]}"
        lines.append(f"{key} = {json.dumps(value, default=str)}: {msg}")
    where = sources[-1] if len(sources) > 1 else "defaults"
    return "invalid configuration (" + where + "):\n  " + "\n  ".join(lines)


def _toml_key(loc: Any) -> tuple[str, bool]:
    """pydantic's error location → (the dotted key as written in TOML, whether it is
    inside a free-form sub table). A section's `sub_tables()` field is not part of
    the key: `providers.openai`, not `providers.tables.openai`."""
    cls: Any = Settings
    out = []
    free_form = False
    for part in loc:
        if cls is not None:
            f = next((f for f in fields(cls) if f.name == part), None)
            if f is not None and is_tables(f):
                cls, free_form = None, True
                continue
            cls = section_type(cls, str(part))
        out.append(str(part))
    return ".".join(out), free_form


def _allowed_keys(section: str) -> list[str]:
    cls: Any = Settings
    for part in section.split(".") if section else []:
        cls = section_type(cls, part)
        if cls is None:
            return []
    return [f.name for f in fields(cls) if not is_tables(f)]


STARTER = """\
# llmspell configuration. Values may use ${VAR} and ${VAR:-default}.
[providers]
default = "mock/echo"
# [providers.openai]
# api_key = "${OPENAI_API_KEY}"
[providers.mock]
responses = ["Hello from the mock provider."]

[storage]
backend = "leveldb"          # or "memory"
path = ".llmspell/data"

[security]
allowed_paths = ["."]        # file tools see nothing else
allowed_domains = ["*"]      # http tools: glob list
max_memory = "256MB"         # per script runtime
max_execution_time = "300s"  # per spell run

[events]
persist = true

[hooks]
timeout = "5s"

[observability]
log_level = "info"
log_format = "text"
"""
