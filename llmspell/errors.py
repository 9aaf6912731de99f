"""The error tree of llmspell, with the spec's numeric codes.

```
LLMSpellError            every failure a spell or user can see; has code/type/category
├── ConfigError          invalid configuration → exit 2
├── UsageError           bad command line → exit 2
└── SpellFailed          an uncaught script error that ends a run → exit 1
```

Scripts receive errors as tables made from `LLMSpellError.to_dict()`; one place
(`exit_code_for`) maps errors to process exit codes.
"""

from __future__ import annotations

from typing import Any

# code -> (type, category). Ranges follow the seed: agent 1xxx, tool 2xxx,
# workflow 3xxx, script 4xxx, hook/event 5xxx, system 6xxx.
CODES: dict[int, tuple[str, str]] = {
    1001: ("NotFound", "agent"), 1002: ("InitializationFailed", "agent"),
    1003: ("ExecutionFailed", "agent"), 1004: ("InvalidConfiguration", "agent"),
    1005: ("Timeout", "agent"), 1006: ("MemoryLimitExceeded", "agent"),
    1007: ("StateCorrupted", "agent"), 1008: ("ToolNotFound", "agent"),
    1009: ("LLMCallFailed", "agent"), 1010: ("PromptTemplateInvalid", "agent"),
    2001: ("NotFound", "tool"), 2002: ("InvalidInput", "tool"),
    2003: ("ExecutionFailed", "tool"), 2004: ("InitializationFailed", "tool"),
    2005: ("ConfigurationInvalid", "tool"), 2006: ("PermissionDenied", "tool"),
    2007: ("ResourceUnavailable", "tool"), 2008: ("Timeout", "tool"),
    2009: ("ValidationFailed", "tool"), 2010: ("SchemaInvalid", "tool"),
    3001: ("NotFound", "workflow"), 3002: ("InvalidDefinition", "workflow"),
    3003: ("ExecutionFailed", "workflow"), 3004: ("StepFailed", "workflow"),
    3005: ("DependencyFailed", "workflow"), 3006: ("CircularDependency", "workflow"),
    3007: ("Timeout", "workflow"), 3008: ("StateInvalid", "workflow"),
    3009: ("ConditionEvaluationFailed", "workflow"), 3010: ("MergeFailed", "workflow"),
    4001: ("SyntaxError", "script"), 4002: ("RuntimeError", "script"),
    4003: ("CompilationFailed", "script"), 4004: ("ExecutionTimeout", "script"),
    4005: ("MemoryLimitExceeded", "script"), 4006: ("SecurityViolation", "script"),
    4007: ("APINotAvailable", "script"), 4008: ("PermissionDenied", "script"),
    4009: ("ResourceExhausted", "script"), 4010: ("InvalidFunction", "script"),
    5001: ("HookCancelled", "hook"), 5002: ("HookExecutionFailed", "hook"),
    5003: ("HookTimeout", "hook"), 5004: ("InvalidPriority", "hook"),
    5005: ("EventEmissionFailed", "event"), 5006: ("SubscriptionFailed", "event"),
    5007: ("FilterInvalid", "event"), 5008: ("HandlerNotFound", "event"),
    5009: ("CircularDependency", "hook"), 5010: ("DeadlockDetected", "hook"),
    6001: ("ConfigurationInvalid", "system"), 6002: ("StorageFailure", "system"),
    6003: ("NetworkFailure", "system"), 6004: ("AuthenticationFailed", "system"),
    6005: ("AuthorizationFailed", "system"), 6006: ("RateLimitExceeded", "system"),
    6007: ("Timeout", "system"), 6008: ("ServiceUnavailable", "system"),
    6009: ("InternalError", "system"), 6010: ("VersionMismatch", "system"),
}

# Codes a caller may reasonably retry.
_RECOVERABLE = {1005, 1009, 2007, 2008, 3007, 5003, 6003, 6006, 6007, 6008}


class LLMSpellError(Exception):
    """A failure with a spec error code; becomes the error table in scripts."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        suggestions: list[str] | None = None,
        source: str | None = None,
        recoverable: bool | None = None,
        details: dict[str, Any] | None = None,
        type_: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        known = CODES.get(code, ("Error", "script"))
        self.type = type_ or known[0]
        self.category = known[1]
        self.message = message
        self.suggestions = list(suggestions or [])
        self.source = source
        self.recoverable = (code in _RECOVERABLE) if recoverable is None else recoverable
        self.details = details or {}

    def __str__(self) -> str:
        return f"[{self.code} {self.type}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "code": self.code, "type": self.type, "message": self.message,
            "category": self.category, "recoverable": self.recoverable,
            "suggestions": self.suggestions,
        }
        if self.source:
            d["source"] = self.source
        if self.details:
            d["details"] = self.details
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LLMSpellError":
        code = d.get("code")
        if not isinstance(code, int):
            code = 4002
        err = cls(
            code, str(d.get("message", "error")),
            suggestions=[str(s) for s in d.get("suggestions") or []] if isinstance(d.get("suggestions"), list) else None,
            source=d.get("source"), recoverable=d.get("recoverable"),
            type_=d.get("type") if isinstance(d.get("type"), str) else None,
        )
        if isinstance(d.get("traceback"), str):
            err.details["traceback"] = d["traceback"]
        return err

    def located(self) -> str:
        """One readable line for a person: where, then what."""
        return f"{self.source}: {self}" if self.source else str(self)


class ConfigError(LLMSpellError):
    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(6001, message, **kw)


class UsageError(LLMSpellError):
    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(4007, message, type_="UsageError", **kw)


class SpellFailed(LLMSpellError):
    """An error that escaped the spell; carries the script-side error table."""


def error(code: int, message: str, **kw: Any) -> LLMSpellError:
    return LLMSpellError(code, message, **kw)


EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, (ConfigError, UsageError)):
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILED
