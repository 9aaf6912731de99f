"""Pydantic models of llmspell.toml: the one place configuration is validated.

Imported only when a configuration has to be checked (pydantic's import costs
~150 ms; see config.py for the cache that keeps `llmspell run` fast).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .config import parse_duration, parse_size


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StorageConfig(_Section):
    backend: Literal["leveldb", "memory", "nats-kv"] = "leveldb"
    path: str = ".llmspell/data"
    lock_timeout: float = 10.0
    _dur = field_validator("lock_timeout", mode="before")(lambda v: parse_duration(v))


class SecurityConfig(_Section):
    allowed_paths: list[str] = ["."]
    allowed_domains: list[str] = ["*"]
    max_memory: int = parse_size("256MB")
    max_execution_time: float = 300.0
    allow_process: bool = False
    allowed_env: list[str] = ["PATH", "HOME", "USER", "LANG", "SHELL", "TZ", "PWD",
                              "TERM", "LOGNAME", "HOSTNAME", "LLMSPELL_*"]

    _size = field_validator("max_memory", mode="before")(lambda v: parse_size(v))
    _dur = field_validator("max_execution_time", mode="before")(lambda v: parse_duration(v))


class EventsConfig(_Section):
    persist: bool = True
    max_history: int = Field(10000, ge=0)


class HooksConfig(_Section):
    timeout: float = 5.0
    _dur = field_validator("timeout", mode="before")(lambda v: parse_duration(v))


class ServeConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    token: str | None = None
    spells: list[str] = []
    grace: float = 10.0            # seconds running jobs get to finish on shutdown
    job_timeout: float = 300.0     # default time limit of one job run
    reload: bool = True            # reload changed spell files
    history: int = Field(200, ge=1)   # job runs kept per job
    _dur = field_validator("grace", "job_timeout", mode="before")(lambda v: parse_duration(v))


class NatsConfig(_Section):
    url: str = "nats://127.0.0.1:4222"
    tenant: str = "default"


class ObservabilityConfig(_Section):
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"


class ProvidersConfig(BaseModel):
    """`default` plus one free-form table per provider (`[providers.openai]`)."""
    model_config = ConfigDict(extra="allow")
    default: str = "mock/echo"


class ToolsConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    http_timeout: float = 30.0
    max_file_size: int = parse_size("10MB")
    _dur = field_validator("http_timeout", mode="before")(lambda v: parse_duration(v))
    _size = field_validator("max_file_size", mode="before")(lambda v: parse_size(v))


class BudgetConfig(_Section):
    """Per-run limits on model use; a call that would pass them fails with 6006."""
    max_cost: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0)


class Settings(_Section):
    providers: ProvidersConfig = ProvidersConfig()
    storage: StorageConfig = StorageConfig()
    security: SecurityConfig = SecurityConfig()
    events: EventsConfig = EventsConfig()
    hooks: HooksConfig = HooksConfig()
    serve: ServeConfig = ServeConfig()
    nats: NatsConfig = NatsConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    tools: ToolsConfig = ToolsConfig()
    budget: BudgetConfig = BudgetConfig()


