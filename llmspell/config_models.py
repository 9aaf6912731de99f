"""The shape of llmspell.toml, declared once: standard-library dataclasses.

`config.settings.security.max_memory` is an `int` in a `SecurityConfig`, typed
and with its default here. pydantic validates these classes (config.py, through
`TypeAdapter(Settings)`) only when a configuration has not been seen before; a
cached result is rebuilt with `build()`. This module never imports pydantic
(that costs ~150 ms at start): the markers below import pydantic_core only
when pydantic asks them for a schema.

TOML shape vs. classes: a section with a `sub_tables()` field (`[providers]`,
`[tools]`) keeps its free-form sub tables (`[providers.openai]`) there, keyed
by name; `route()` moves them in, `to_plain()` puts them back.
"""

from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields, is_dataclass
from typing import Annotated, Any, Literal, TypeVar, dataclass_transform

from .units import parse_duration, parse_size

# ---- validation markers, for typing.Annotated; understood by pydantic only


class Coerce:
    """`Annotated[int, Coerce(parse)]`: `parse` the raw value, then check the type."""

    __slots__ = ("parse",)

    def __init__(self, parse: Any) -> None:
        self.parse = parse

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema
        return core_schema.no_info_before_validator_function(self.parse, handler(source))


class Bounds:
    """`Annotated[int, Bounds(ge=0, le=65535)]`: an inclusive range."""

    __slots__ = ("ge", "le")

    def __init__(self, ge: float | None = None, le: float | None = None) -> None:
        self.ge, self.le = ge, le

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        schema = dict(handler(source))          # an int_schema or float_schema
        if self.ge is not None:
            schema["ge"] = self.ge
        if self.le is not None:
            schema["le"] = self.le
        return schema


def _size(v: Any) -> int:
    try:
        n = parse_size(v)
    except OverflowError:       # inf
        raise ValueError("expected a size like '256MB'") from None
    if n < 0:
        raise ValueError("a size must not be negative")
    if n > 2**62:
        raise ValueError("a size must be at most 2**62 bytes")
    return n


def _duration(v: Any) -> float:
    d = parse_duration(v)
    if not d >= 0:          # (also NaN)
        raise ValueError("a duration must not be negative")
    return d


def _positive(parse: Any, what: str, example: str) -> Any:
    """A limit that must be more than 0 (0 would mean no limit, or no time at all)."""
    def check(v: Any) -> Any:
        n = parse(v)
        if not n > 0:
            raise ValueError(f"{what} must be more than 0, like {example}")
        return n
    return check


Size = Coerce(_size)                # '256MB' → bytes
Duration = Coerce(_duration)        # '5m' → seconds
MemoryLimit = Coerce(_positive(_size, "a memory limit", "'256MB'"))
TimeLimit = Coerce(_positive(_duration, "a time limit", "'300s'"))
NonNegative = Bounds(ge=0)

def sub_tables() -> Any:
    """The field that holds a section's free-form sub tables, by name (they may hold
    secrets such as api keys, so they stay out of repr())."""
    return field(default_factory=dict, repr=False, metadata={"tables": True})


def _list(*items: str) -> Any:
    return field(default_factory=lambda: list(items))


# ---- the sections


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Section:
    """Base of the sections: each subclass is a frozen dataclass taking keywords.

    `dataclass(init=False, repr=False, eq=False)` plus the generic methods below,
    because generating those methods for every class (exec) costs ~4 ms at each
    start. pydantic does not call `__init__`; `build()` does.
    """

    __slots__ = ()
    __pydantic_config__ = {"extra": "forbid"}   # unknown keys are errors naming the allowed ones

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        dataclass(init=False, repr=False, eq=False)(cls)

    def __init__(self, **values: Any) -> None:
        for f in fields(self):
            if f.name in values:
                v = values.pop(f.name)
            elif f.default is not MISSING:
                v = f.default
            else:
                v = f.default_factory()  # type: ignore[misc]
            object.__setattr__(self, f.name, v)
        if values:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments: {', '.join(values)}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r} (settings are read-only)")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r} (settings are read-only)")

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self))

    __hash__ = None  # type: ignore[assignment]


class ProvidersConfig(Section):
    """`[providers]`: `default` plus one free-form table per provider (`[providers.openai]`)."""
    default: str = "mock/echo"
    tables: dict[str, dict[str, Any]] = sub_tables()     # "openai" → {"api_key": …, "base_url": …}


class StorageConfig(Section):
    """`[storage]`: where runs, state and events are kept."""
    backend: Literal["leveldb", "memory", "nats-kv"] = "leveldb"
    path: str = ".llmspell/data"
    lock_timeout: Annotated[float, Duration] = 10.0


class SecurityConfig(Section):
    """`[security]`: what a spell may reach and how much it may use.

    `denied_paths` wins over `allowed_paths` (checked on the real path, for reading,
    writing and listing). Entries are paths (relative to the project root, `~`
    allowed; a folder covers everything under it) or globs (`*`, `?`, `**`; one
    starting with `**/` matches anywhere). Whatever it says, tools never reach the
    config files the runtime loaded, the storage folder and its parent (serve.json),
    the user config and config cache folders, or llmspell's own code and Python
    environment. `allow_private_network` lets http_client reach loopback, private,
    link-local and metadata addresses (refused by default, after DNS, on every hop)."""
    allowed_paths: list[str] = _list(".")
    denied_paths: list[str] = _list("**/llmspell.toml", ".llmspell", "**/.git", "~/.config/llmspell",
                                    "~/.cache/llmspell", "~/.llmspell_history")
    allowed_domains: list[str] = _list("*")
    allow_private_network: bool = False
    max_memory: Annotated[int, MemoryLimit] = parse_size("256MB")
    max_execution_time: Annotated[float, TimeLimit] = 300.0
    allowed_env: list[str] = _list("PATH", "HOME", "USER", "LANG", "SHELL", "TZ", "PWD",
                                   "TERM", "LOGNAME", "HOSTNAME", "LLMSPELL_*")


class EventsConfig(Section):
    """`[events]`: the event bus."""
    persist: bool = True
    max_history: Annotated[int, NonNegative] = 10000
    max_payload: Annotated[int, Size, Bounds(ge=1)] = parse_size("1MB")   # one event's data, serialized


class HooksConfig(Section):
    """`[hooks]`: time limit of one hook call."""
    timeout: Annotated[float, TimeLimit] = 5.0


class ServeConfig(Section):
    """`[serve]`: the `llmspell serve` daemon."""
    host: str = "127.0.0.1"
    port: Annotated[int, Bounds(ge=0, le=65535)] = 8080
    token: str | None = field(default=None, repr=False)
    spells: list[str] = _list()
    grace: Annotated[float, Duration] = 10.0          # seconds running jobs get to finish on shutdown
    job_timeout: Annotated[float, Duration] = 300.0   # default time limit of one job run
    reload: bool = True                               # reload changed spell files
    history: Annotated[int, Bounds(ge=1)] = 200       # job runs kept per job
    max_queue: Annotated[int, NonNegative] = 100      # firings a job holds beyond the running one; more → 429


class NatsConfig(Section):
    """`[nats]`: the NATS server of the nats-kv storage backend."""
    url: str = "nats://127.0.0.1:4222"
    tenant: str = "default"


class ObservabilityConfig(Section):
    """`[observability]`: logging."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"


class ToolsConfig(Section):
    """`[tools]`: settings of the built-in tools plus one free-form table per tool (`[tools.NAME]`)."""
    http_timeout: Annotated[float, TimeLimit] = 30.0
    max_file_size: Annotated[int, Size] = parse_size("10MB")
    tables: dict[str, dict[str, Any]] = sub_tables()


class BudgetConfig(Section):
    """`[budget]`: per-run limits on model use; a call that would pass them fails with 6006."""
    max_cost: Annotated[float, NonNegative] | None = None
    max_tokens: Annotated[int, NonNegative] | None = None


class Settings(Section):
    """The whole of llmspell.toml (every section has defaults)."""
    providers: ProvidersConfig = field(default_factory=ProvidersConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    hooks: HooksConfig = field(default_factory=HooksConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    nats: NatsConfig = field(default_factory=NatsConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)


# ---- TOML shape ⇄ dataclasses, without pydantic

T = TypeVar("T")


def is_tables(f: Any) -> bool:
    return bool(f.metadata.get("tables"))


def section_type(cls: Any, name: str) -> Any:
    """The dataclass of field `name` of `cls`, else None."""
    for f in fields(cls):
        if f.name == name:
            return f.type if isinstance(f.type, type) and is_dataclass(f.type) else None
    return None


def route(cls: Any, data: Any) -> Any:
    """TOML-shaped data → the shape of `cls`'s fields: in a section with a `sub_tables()`
    field every key it does not declare becomes an entry there (recursively)."""
    if not isinstance(data, dict):
        return data
    declared = {f.name: f for f in fields(cls) if not is_tables(f)}
    home = next((f.name for f in fields(cls) if is_tables(f)), None)
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for k, v in data.items():
        f = declared.get(k)
        if f is not None:
            out[k] = route(f.type, v) if isinstance(f.type, type) and is_dataclass(f.type) else v
        elif home is not None:
            extra[k] = v
        else:
            out[k] = v      # left for pydantic to reject
    if extra:
        out[home] = extra
    return out


def build(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild validated, TOML-shaped data (the cache) into `cls`: no validation, only
    the shape is checked (TypeError when a damaged cache entry does not fit)."""
    return _construct(cls, route(cls, data))


def _construct(cls: Any, data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected a table, got {type(data).__name__}")
    kw = {}
    for f in fields(cls):
        if f.name in data:
            v = data[f.name]
            kw[f.name] = _construct(f.type, v) if isinstance(f.type, type) and is_dataclass(f.type) else v
    if len(kw) != len(data):
        raise TypeError(f"{cls.__name__}: unexpected keys {sorted(set(data) - set(kw))}")
    return cls(**kw)


def to_plain(obj: Any) -> Any:
    """Settings → TOML-shaped plain data (fresh dicts and lists)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in fields(obj):
            v = to_plain(getattr(obj, f.name))
            if is_tables(f):
                out.update(v)
            else:
                out[f.name] = v
        return out
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_plain(v) for v in obj]
    return obj
