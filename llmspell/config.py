"""Configuration: pydantic models, the layered loader and secret masking.

Precedence (later wins): built-in defaults < ~/.config/llmspell/llmspell.toml <
nearest ./llmspell.toml up the tree < --config FILE < LLMSPELL_* env < flags.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any


from .errors import ConfigError

_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_DUR = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def parse_size(v: Any) -> int:
    """'256MB' → bytes. Plain numbers are bytes."""
    if isinstance(v, bool):
        raise ValueError("expected a size like '256MB'")
    if isinstance(v, (int, float)):
        return int(v)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(v))
    if not m or m.group(2).lower() not in _UNITS | {"": 1}:
        raise ValueError("expected a size like '256MB', '1GiB' or a number of bytes")
    return int(float(m.group(1)) * _UNITS.get(m.group(2).lower(), 1))


def parse_duration(v: Any) -> float:
    """'300s', '5m', '250ms' → seconds. Plain numbers are seconds."""
    if isinstance(v, bool):
        raise ValueError("expected a duration like '30s'")
    if isinstance(v, (int, float)):
        return float(v)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(v))
    if not m:
        raise ValueError("expected a duration like '300s', '5m', '250ms' or a number of seconds")
    return float(m.group(1)) * _DUR[m.group(2) or "s"]


class Config:
    """The merged, validated configuration plus where it came from."""

    def __init__(self, data: dict[str, Any], root: Path, sources: list[str]) -> None:
        self.raw = data
        self.root = root
        self.sources = sources
        self.settings = _validate(data, sources)

    def resolve(self, p: str | Path) -> Path:
        """Paths in config are relative to the project root (the config's folder)."""
        path = Path(os.path.expanduser(str(p)))
        return path if path.is_absolute() else (self.root / path)

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.settings.storage.path)

    def get(self, dotted: str | None = None, *, masked: bool = True) -> Any:
        value: Any = json.loads(json.dumps(self.settings))
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
    user = user_file if user_file is not None else Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "llmspell" / "llmspell.toml"
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


class View(dict):  # type: ignore[type-arg]
    """Validated config data with attribute access (`settings.security.max_memory`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            v = self[name]
        except KeyError:
            raise AttributeError(name) from None
        return View(v) if isinstance(v, dict) and not isinstance(v, View) else v

    def model_dump(self, mode: str = "json") -> dict[str, Any]:
        return json.loads(json.dumps(self))


def _cache_path(data: dict[str, Any]) -> Path | None:
    import hashlib
    from . import __version__
    try:
        stamp = f"{__version__}:{Path(__file__).with_name('config_models.py').stat().st_mtime_ns}"
        digest = hashlib.sha256((stamp + json.dumps(data, sort_keys=True, default=str)).encode()).hexdigest()[:32]
    except (OSError, TypeError, ValueError):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmspell" / "config"
    return base / f"{digest}.json"


def _validate(data: dict[str, Any], sources: list[str]) -> View:
    """Validate with pydantic, or reuse the result of validating identical input before."""
    cache = _cache_path(data)
    if cache is not None:
        try:
            return View(json.loads(cache.read_text()))
        except (OSError, ValueError):
            pass
    from pydantic import ValidationError
    from .config_models import Settings
    try:
        normalized = Settings.model_validate(data).model_dump(mode="json")
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            value = err.get("input")
            if is_secret_name(key):
                value = mask_value(value)
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                section = key.rsplit(".", 1)[0] if "." in key else ""
                model = _model_at(section)
                allowed = ", ".join(model.model_fields) if model else ""
                msg = f"unknown key (allowed here: {allowed})"
            elif err["type"] == "literal_error":
                msg = f"not allowed; {msg[0].lower()}{msg[1:]}"
            lines.append(f"{key} = {json.dumps(value, default=str)}: {msg}")
        where = sources[-1] if len(sources) > 1 else "defaults"
        raise ConfigError("invalid configuration (" + where + "):\n  " + "\n  ".join(lines)) from None
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(normalized))
            os.replace(tmp, cache)
        except OSError:
            pass
    return View(normalized)


def _model_at(section: str) -> Any:
    from pydantic import BaseModel
    from .config_models import Settings
    model: Any = Settings
    if not section:
        return model
    for part in section.split("."):
        field = model.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type) or not issubclass(field.annotation, BaseModel):
            return None
        model = field.annotation
    return model


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
allow_process = false

[events]
persist = true

[hooks]
timeout = "5s"

[observability]
log_level = "info"
log_format = "text"
"""
