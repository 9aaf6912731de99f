"""The error tree of llmspell, with the spec's numeric codes.

```
LLMSpellError            every failure a spell or user can see; has code/type/category
├── ConfigError          invalid configuration (6001) → exit 2
├── UsageError           bad command line (4007) → exit 2
├── StorageError         the store failed or refused a value (6002)
└── SpellFailed          an uncaught script error that ends a run → exit 1
```
(providers add `ProviderError`, a model call that failed, with retry guidance.)

An error's type and category always come from its code (`CODES`); only an error
table a script made itself (`from_dict`) keeps the type it was given. Scripts
receive errors as tables made from `LLMSpellError.to_dict()`; one place
(`exit_code_for`) maps errors to process exit codes.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Code(IntEnum):
    """The spec's error codes, by name. The type and category scripts see for each
    are in CODES; they always come from there, never from the raiser."""

    AGENT_NOT_FOUND = 1001
    AGENT_INITIALIZATION_FAILED = 1002
    AGENT_EXECUTION_FAILED = 1003
    AGENT_INVALID_CONFIGURATION = 1004
    AGENT_TIMEOUT = 1005
    AGENT_MEMORY_LIMIT_EXCEEDED = 1006
    AGENT_STATE_CORRUPTED = 1007
    AGENT_TOOL_NOT_FOUND = 1008
    AGENT_LLM_CALL_FAILED = 1009
    AGENT_PROMPT_TEMPLATE_INVALID = 1010

    TOOL_NOT_FOUND = 2001
    TOOL_INVALID_INPUT = 2002
    TOOL_EXECUTION_FAILED = 2003
    TOOL_INITIALIZATION_FAILED = 2004
    TOOL_CONFIGURATION_INVALID = 2005
    TOOL_PERMISSION_DENIED = 2006
    TOOL_RESOURCE_UNAVAILABLE = 2007
    TOOL_TIMEOUT = 2008
    TOOL_VALIDATION_FAILED = 2009
    TOOL_SCHEMA_INVALID = 2010

    WORKFLOW_NOT_FOUND = 3001
    WORKFLOW_INVALID_DEFINITION = 3002
    WORKFLOW_EXECUTION_FAILED = 3003
    WORKFLOW_STEP_FAILED = 3004
    WORKFLOW_DEPENDENCY_FAILED = 3005
    WORKFLOW_CIRCULAR_DEPENDENCY = 3006
    WORKFLOW_TIMEOUT = 3007
    WORKFLOW_STATE_INVALID = 3008
    WORKFLOW_CONDITION_EVALUATION_FAILED = 3009
    WORKFLOW_MERGE_FAILED = 3010

    SCRIPT_SYNTAX_ERROR = 4001
    SCRIPT_RUNTIME_ERROR = 4002
    SCRIPT_COMPILATION_FAILED = 4003
    SCRIPT_EXECUTION_TIMEOUT = 4004
    SCRIPT_MEMORY_LIMIT_EXCEEDED = 4005
    SCRIPT_SECURITY_VIOLATION = 4006
    SCRIPT_API_NOT_AVAILABLE = 4007
    SCRIPT_PERMISSION_DENIED = 4008
    SCRIPT_RESOURCE_EXHAUSTED = 4009
    SCRIPT_INVALID_FUNCTION = 4010

    HOOK_CANCELLED = 5001
    HOOK_EXECUTION_FAILED = 5002
    HOOK_TIMEOUT = 5003
    HOOK_INVALID_PRIORITY = 5004
    EVENT_EMISSION_FAILED = 5005
    EVENT_SUBSCRIPTION_FAILED = 5006
    EVENT_FILTER_INVALID = 5007
    EVENT_HANDLER_NOT_FOUND = 5008
    HOOK_CIRCULAR_DEPENDENCY = 5009
    HOOK_DEADLOCK_DETECTED = 5010

    SYSTEM_CONFIGURATION_INVALID = 6001
    SYSTEM_STORAGE_FAILURE = 6002
    SYSTEM_NETWORK_FAILURE = 6003
    SYSTEM_AUTHENTICATION_FAILED = 6004
    SYSTEM_AUTHORIZATION_FAILED = 6005
    SYSTEM_RATE_LIMIT_EXCEEDED = 6006
    SYSTEM_TIMEOUT = 6007
    SYSTEM_SERVICE_UNAVAILABLE = 6008
    SYSTEM_INTERNAL_ERROR = 6009
    SYSTEM_VERSION_MISMATCH = 6010


# code -> (type, category), as scripts see them in the error table.
CODES: dict[int, tuple[str, str]] = {
    Code.AGENT_NOT_FOUND: ("NotFound", "agent"),
    Code.AGENT_INITIALIZATION_FAILED: ("InitializationFailed", "agent"),
    Code.AGENT_EXECUTION_FAILED: ("ExecutionFailed", "agent"),
    Code.AGENT_INVALID_CONFIGURATION: ("InvalidConfiguration", "agent"),
    Code.AGENT_TIMEOUT: ("Timeout", "agent"),
    Code.AGENT_MEMORY_LIMIT_EXCEEDED: ("MemoryLimitExceeded", "agent"),
    Code.AGENT_STATE_CORRUPTED: ("StateCorrupted", "agent"),
    Code.AGENT_TOOL_NOT_FOUND: ("ToolNotFound", "agent"),
    Code.AGENT_LLM_CALL_FAILED: ("LLMCallFailed", "agent"),
    Code.AGENT_PROMPT_TEMPLATE_INVALID: ("PromptTemplateInvalid", "agent"),
    Code.TOOL_NOT_FOUND: ("NotFound", "tool"),
    Code.TOOL_INVALID_INPUT: ("InvalidInput", "tool"),
    Code.TOOL_EXECUTION_FAILED: ("ExecutionFailed", "tool"),
    Code.TOOL_INITIALIZATION_FAILED: ("InitializationFailed", "tool"),
    Code.TOOL_CONFIGURATION_INVALID: ("ConfigurationInvalid", "tool"),
    Code.TOOL_PERMISSION_DENIED: ("PermissionDenied", "tool"),
    Code.TOOL_RESOURCE_UNAVAILABLE: ("ResourceUnavailable", "tool"),
    Code.TOOL_TIMEOUT: ("Timeout", "tool"),
    Code.TOOL_VALIDATION_FAILED: ("ValidationFailed", "tool"),
    Code.TOOL_SCHEMA_INVALID: ("SchemaInvalid", "tool"),
    Code.WORKFLOW_NOT_FOUND: ("NotFound", "workflow"),
    Code.WORKFLOW_INVALID_DEFINITION: ("InvalidDefinition", "workflow"),
    Code.WORKFLOW_EXECUTION_FAILED: ("ExecutionFailed", "workflow"),
    Code.WORKFLOW_STEP_FAILED: ("StepFailed", "workflow"),
    Code.WORKFLOW_DEPENDENCY_FAILED: ("DependencyFailed", "workflow"),
    Code.WORKFLOW_CIRCULAR_DEPENDENCY: ("CircularDependency", "workflow"),
    Code.WORKFLOW_TIMEOUT: ("Timeout", "workflow"),
    Code.WORKFLOW_STATE_INVALID: ("StateInvalid", "workflow"),
    Code.WORKFLOW_CONDITION_EVALUATION_FAILED: ("ConditionEvaluationFailed", "workflow"),
    Code.WORKFLOW_MERGE_FAILED: ("MergeFailed", "workflow"),
    Code.SCRIPT_SYNTAX_ERROR: ("SyntaxError", "script"),
    Code.SCRIPT_RUNTIME_ERROR: ("RuntimeError", "script"),
    Code.SCRIPT_COMPILATION_FAILED: ("CompilationFailed", "script"),
    Code.SCRIPT_EXECUTION_TIMEOUT: ("ExecutionTimeout", "script"),
    Code.SCRIPT_MEMORY_LIMIT_EXCEEDED: ("MemoryLimitExceeded", "script"),
    Code.SCRIPT_SECURITY_VIOLATION: ("SecurityViolation", "script"),
    Code.SCRIPT_API_NOT_AVAILABLE: ("APINotAvailable", "script"),
    Code.SCRIPT_PERMISSION_DENIED: ("PermissionDenied", "script"),
    Code.SCRIPT_RESOURCE_EXHAUSTED: ("ResourceExhausted", "script"),
    Code.SCRIPT_INVALID_FUNCTION: ("InvalidFunction", "script"),
    Code.HOOK_CANCELLED: ("HookCancelled", "hook"),
    Code.HOOK_EXECUTION_FAILED: ("HookExecutionFailed", "hook"),
    Code.HOOK_TIMEOUT: ("HookTimeout", "hook"),
    Code.HOOK_INVALID_PRIORITY: ("InvalidPriority", "hook"),
    Code.EVENT_EMISSION_FAILED: ("EventEmissionFailed", "event"),
    Code.EVENT_SUBSCRIPTION_FAILED: ("SubscriptionFailed", "event"),
    Code.EVENT_FILTER_INVALID: ("FilterInvalid", "event"),
    Code.EVENT_HANDLER_NOT_FOUND: ("HandlerNotFound", "event"),
    Code.HOOK_CIRCULAR_DEPENDENCY: ("CircularDependency", "hook"),
    Code.HOOK_DEADLOCK_DETECTED: ("DeadlockDetected", "hook"),
    Code.SYSTEM_CONFIGURATION_INVALID: ("ConfigurationInvalid", "system"),
    Code.SYSTEM_STORAGE_FAILURE: ("StorageFailure", "system"),
    Code.SYSTEM_NETWORK_FAILURE: ("NetworkFailure", "system"),
    Code.SYSTEM_AUTHENTICATION_FAILED: ("AuthenticationFailed", "system"),
    Code.SYSTEM_AUTHORIZATION_FAILED: ("AuthorizationFailed", "system"),
    Code.SYSTEM_RATE_LIMIT_EXCEEDED: ("RateLimitExceeded", "system"),
    Code.SYSTEM_TIMEOUT: ("Timeout", "system"),
    Code.SYSTEM_SERVICE_UNAVAILABLE: ("ServiceUnavailable", "system"),
    Code.SYSTEM_INTERNAL_ERROR: ("InternalError", "system"),
    Code.SYSTEM_VERSION_MISMATCH: ("VersionMismatch", "system"),
}

# Codes a caller may reasonably retry.
_RECOVERABLE = {Code.AGENT_TIMEOUT, Code.AGENT_LLM_CALL_FAILED, Code.TOOL_RESOURCE_UNAVAILABLE, Code.TOOL_TIMEOUT,
                Code.WORKFLOW_TIMEOUT, Code.HOOK_TIMEOUT, Code.SYSTEM_NETWORK_FAILURE,
                Code.SYSTEM_RATE_LIMIT_EXCEEDED, Code.SYSTEM_TIMEOUT, Code.SYSTEM_SERVICE_UNAVAILABLE}


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
    ) -> None:
        super().__init__(message)
        self.code = int(code)
        self.type, self.category = CODES.get(self.code, ("Error", "script"))
        self.message = message
        self.suggestions = list(suggestions or [])
        self.source = source
        self.recoverable = (self.code in _RECOVERABLE) if recoverable is None else recoverable
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
        """An error table (perhaps made by the spell itself) as an exception."""
        code = d.get("code")
        if not isinstance(code, int):
            code = Code.SCRIPT_RUNTIME_ERROR
        err = cls(
            code,
            str(d.get("message", "error")),
            suggestions=(
                [str(s) for s in d.get("suggestions") or []] if isinstance(d.get("suggestions"), list) else None
            ),
            source=d.get("source"),
            recoverable=d.get("recoverable"),
        )
        if isinstance(d.get("type"), str):
            err.type = d["type"]      # a spell's own error keeps its own type
        if isinstance(d.get("traceback"), str):
            err.details["traceback"] = d["traceback"]
        return err

    def located(self) -> str:
        """One readable line for a person: where, then what."""
        return f"{self.source}: {self}" if self.source else str(self)


class ConfigError(LLMSpellError):
    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(Code.SYSTEM_CONFIGURATION_INVALID, message, **kw)


class UsageError(LLMSpellError):
    """The command line asked for something that cannot be (exit 2)."""

    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(Code.SCRIPT_API_NOT_AVAILABLE, message, **kw)


class StorageError(LLMSpellError):
    """The store failed, is locked by another process, or refused a value."""

    def __init__(self, message: str, **kw: Any) -> None:
        super().__init__(Code.SYSTEM_STORAGE_FAILURE, message, **kw)


class SpellFailed(LLMSpellError):
    """An error that escaped the spell; carries the script-side error table."""


EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, (ConfigError, UsageError)):
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILED
