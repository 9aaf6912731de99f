"""Configuration: the layered loader, validation (cached) and secret masking.

The settings are typed: `Config.settings` is a `config_models.Settings`
(standard-library dataclasses declared once in config_models.py). pydantic
validates a configuration the first time it is seen; the result is cached, so
an unchanged configuration is rebuilt without importing pydantic.

Precedence (later wins): built-in defaults < ~/.config/llmspell/llmspell.toml <
nearest ./llmspell.toml up the tree < --config FILE < LLMSPELL_* env < flags.
"""

from __future__ import annotations

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

    def __init__(self, data: dict[str, Any], root: Path, sources: list[str]) -> None:
        self.raw = data
        self.root = root
        self.sources = sources
        self.settings: Settings = _validate(data, sources)

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


SECRET_WORDS = ("api_key", "apikey", "token", "secret", "password", "passwd", "credential", "private_key")


def is_secret_name(name: str) -> bool:
    low = name.lower()
    return any(w in low for w in SECRET_WORDS)


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
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None


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
    merged = expand_env(merged, env)
    envo = _env_overrides(env)
    if envo:
        merged = deep_merge(merged, envo)
        sources.append("environment")
    if overrides:
        for k, v in overrides.items():
            set_dotted(merged, k, v)
        sources.append("flags")
    return Config(merged, root, sources)


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


def _cache_path(data: dict[str, Any]) -> Path | None:
    import hashlib
    try:
        stamp = _models_stamp()
        digest = hashlib.sha256((stamp + json.dumps(data, sort_keys=True, default=str)).encode()).hexdigest()[:32]
    except (OSError, TypeError, ValueError):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmspell" / "config"
    return base / f"{digest}.json"


def _validate(data: dict[str, Any], sources: list[str]) -> Settings:
    """Validate with pydantic, or rebuild the result of validating identical input before."""
    cache = _cache_path(data)
    if cache is not None:
        try:
            return build(Settings, json.loads(cache.read_text()))
        except (OSError, ValueError, TypeError):
            pass
    from pydantic import TypeAdapter, ValidationError
    try:
        checked = TypeAdapter(Settings).validate_python(route(Settings, data))
    except ValidationError as e:
        raise ConfigError(_invalid(e, sources)) from None
    # settings are always rebuilt from this JSON, cache hit or not: both paths give the same
    normalized = json.loads(json.dumps(to_plain(checked), default=_json_default))
    if cache is not None:
        _write_private(cache, json.dumps(normalized))
    return build(Settings, normalized)


def _write_private(path: Path, text: str) -> None:
    """Atomically, readable by the owner only (the values may hold expanded secrets)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        pass


def _invalid(e: Any, sources: list[str]) -> str:
    """The message of a pydantic ValidationError: key = value: what is wrong (or allowed)."""
    lines = []
    for err in e.errors():
        key, free_form = _toml_key(err["loc"])
        value = err.get("input")
        if free_form or is_secret_name(key):      # a provider's table may be all secrets
            value = mask_value(value)
        msg = err["msg"]
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
