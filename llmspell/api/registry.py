"""The spell API, declared once.

Each function a spell can call is ordinary Python marked with `@api("Tools.get")`
or `@method("Tool", "execute")`. The decorator only marks the function with its
public name and whether the call waits (a Promise in JS, a coroutine yield in
Lua); `ApiRegistry.from_modules` reads the marks of the modules it is given
(see `catalog.py`), with each function's docstring and a validator per
parameter. Engines are handed that registry and build their globals from it, so
Lua and JavaScript cannot drift apart; the docs and stubs come from it too.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, NewType, get_type_hints

from ..errors import Code, LLMSpellError

_PY_TO_SCRIPT = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                 "dict": "table", "list": "array", "NoneType": "nil"}


# A configuration table parameter. JS callers may write its keys in camelCase;
# they reach Python in snake_case (data parameters are never renamed).
Options = NewType("Options", dict)


@dataclass
class Param:
    name: str
    annotation: Any
    default: Any
    variadic: bool = False
    _adapter: Any = None
    _kinds: Any = None

    options: bool = False

    def __post_init__(self) -> None:
        ann = self.annotation
        self.options = ann is Options or Options in (getattr(ann, "__args__", None) or ())

    def check(self, owner: str, value: Any) -> Any:
        ann = self.annotation
        if ann is Any or ann is inspect.Parameter.empty:
            return value
        if value is None and self.default is not inspect.Parameter.empty:
            return self.default
        if (
            isinstance(ann, type)
            and not ann.__module__.startswith("builtins")
            and not hasattr(ann, "__pydantic_core_schema__")
        ):
            if isinstance(value, ann):
                return value
            raise LLMSpellError(Code.TOOL_INVALID_INPUT if owner.startswith("Tool") else 4002,
                                f"{owner}: '{self.name}' must be a {_script_name(ann)}, got {_describe(value)}")
        kinds = self._kinds
        if kinds is None:
            kinds = self._kinds = _simple_kinds(ann)
        simple = _check_kinds(kinds, value) if kinds else None
        if simple is True:
            return value
        if simple is False:
            raise LLMSpellError(
                Code.SCRIPT_RUNTIME_ERROR,
                f"{owner}: '{self.name}' must be {_script_name(ann)}, got {_describe(value)}",
            )
        if self._adapter is None:
            from pydantic import TypeAdapter
            self._adapter = TypeAdapter(ann)
        try:
            return self._adapter.validate_python(value)
        except Exception:
            raise LLMSpellError(
                Code.SCRIPT_RUNTIME_ERROR,
                f"{owner}: '{self.name}' must be {_script_name(ann)}, got {_describe(value)}",
            ) from None


_SIMPLE = {str: (str,), int: (int,), float: (int, float), bool: (bool,), dict: (dict,), list: (list,)}


def _simple_kinds(ann: Any) -> tuple[Any, ...] | bool:
    """The plain types an annotation allows, so checks need no pydantic (slow to
    import); False when the annotation is not that simple."""
    import types
    import typing
    options = (
        getattr(ann, "__args__", None)
        if isinstance(ann, types.UnionType) or typing.get_origin(ann) is typing.Union
        else (ann,)
    )
    if options is None:
        return False
    kinds: list[Any] = []
    for opt in options:
        opt = getattr(opt, "__supertype__", opt)      # Options → dict
        base = typing.get_origin(opt) or opt
        if opt is type(None):
            kinds.append((type(None), False))
        elif base in _SIMPLE:
            kinds.append((_SIMPLE[base], base in (int, float)))
        elif isinstance(opt, type) and opt.__module__ != "builtins":
            kinds.append(((opt,), False))        # our own classes: Tool, Agent, ScriptFunction…
        else:
            return False
    return tuple(kinds)


def _check_kinds(kinds: tuple[Any, ...], value: Any) -> bool:
    for types_, numeric in kinds:
        if isinstance(value, types_) and not (numeric and isinstance(value, bool)):
            return True
    return False


def _script_name(ann: Any) -> str:
    name = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
    if "|" in str(ann) or "Union" in str(ann) or "Optional" in str(ann):
        args = getattr(ann, "__args__", ())
        return " or ".join(_script_name(a) for a in args)
    if name in ("ScriptFunction",):
        return "function"
    if name in ("list", "List") or str(ann).startswith("list["):
        return "array"
    if str(ann).startswith("dict["):
        return "table"
    return _PY_TO_SCRIPT.get(name, name)


def _describe(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v}"
    if isinstance(v, str):
        return f"string {v[:40]!r}"
    if isinstance(v, dict):
        return "table"
    if isinstance(v, list):
        return "array"
    return type(v).__name__


@dataclass
class ApiFunction:
    owner: str           # "Tools" (a global table), "" (a bare global) or a class ("Tool")
    name: str            # snake_case; JS gets camelCase too
    fn: Callable[..., Any]
    waits: bool          # JS: returns a Promise. Lua: looks synchronous either way.
    is_async: bool       # the Python implementation awaits (Lua must yield to call it)
    is_method: bool
    doc: str
    params: list[Param]
    index: int = 0
    receiver: Callable[[Any], Any] | None = None   # global function backed by a default object
    has_options: bool = False
    self_type: type | None = None    # a method's receiver class: a call on any other object is refused

    def __post_init__(self) -> None:
        self.has_options = any(p.options for p in self.params)

    @property
    def public(self) -> str:
        return f"{self.owner}.{self.name}" if self.owner else self.name

    def bind_args(self, args: list[Any]) -> list[Any]:
        out: list[Any] = []
        ps = self.params
        for i, p in enumerate(ps):
            if p.variadic:
                out.extend(args[i:])
                return out
            if i < len(args):
                v = args[i]
                out.append(p.check(self.public, v) if v is not None or p.default is inspect.Parameter.empty
                           else p.default)
            elif p.default is not inspect.Parameter.empty:
                out.append(p.default)
            else:
                raise LLMSpellError(
                    Code.SCRIPT_RUNTIME_ERROR,
                    f"{self.public}: missing argument '{p.name}'",
                    suggestions=[self.signature()],
                )
        if len(args) > len(ps) and any(a is not None for a in args[len(ps):]):
            raise LLMSpellError(
                Code.SCRIPT_RUNTIME_ERROR,
                f"{self.public}: takes {len(ps)} argument(s), got {len(args)}",
                suggestions=[self.signature()],
            )
        return out

    def signature(self) -> str:
        parts = []
        for p in self.params:
            s = ("..." if p.variadic else "") + p.name
            if p.default is not inspect.Parameter.empty and not p.variadic:
                s += "?"
            parts.append(s)
        sep = ":" if self.is_method else "."
        return f"{self.owner}{sep if self.owner else ''}{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class Declaration:
    """What a decorator records on a function; the registry reads it."""
    owner: str
    name: str
    waits: bool | None
    is_method: bool
    receiver: Callable[[Any], Any] | None = None


_MARK = "__spell_api__"


class ApiRegistry:
    def __init__(self) -> None:
        self.functions: list[ApiFunction] = []
        self.globals: list[str] = []     # table globals in declaration order
        self.classes: list[str] = []

    @classmethod
    def from_modules(cls, modules: tuple[ModuleType, ...]) -> "ApiRegistry":
        """A registry of every declared function in `modules`, in module then source order."""
        reg = cls()
        for m in modules:
            for fn in list(vars(m).values()):
                if callable(fn) and getattr(fn, "__module__", None) == m.__name__:
                    for d in getattr(fn, _MARK, ()):
                        w = inspect.iscoroutinefunction(fn) if d.waits is None else d.waits
                        reg.add(d.owner, d.name, fn, waits=w, is_method=d.is_method, receiver=d.receiver)
        return reg

    def add(self, owner: str, name: str, fn: Callable[..., Any], *, waits: bool,
            is_method: bool, receiver: Callable[[Any], Any] | None = None) -> ApiFunction:
        sig = inspect.signature(fn)
        try:
            hints = get_type_hints(fn)
        except Exception:
            hints = {}
        skip = 2 if (is_method or receiver) else 1   # run [, self]
        params = []
        for p in list(sig.parameters.values())[skip:]:
            params.append(Param(p.name, hints.get(p.name, Any), p.default,
                                variadic=p.kind is inspect.Parameter.VAR_POSITIONAL))
        entry = ApiFunction(owner, name, fn, waits, inspect.iscoroutinefunction(fn), is_method,
                            inspect.getdoc(fn) or "", params, len(self.functions), receiver)
        if is_method:
            first = list(sig.parameters.values())[1].name
            t = hints.get(first)
            entry.self_type = t if isinstance(t, type) else None
        self.functions.append(entry)
        target = self.classes if is_method else self.globals
        if owner and owner not in target:
            target.append(owner)
        return entry

    def of(self, owner: str) -> list[ApiFunction]:
        return [f for f in self.functions if f.owner == owner]


def _mark(fn: Callable[..., Any], decl: Declaration) -> Callable[..., Any]:
    setattr(fn, _MARK, (*getattr(fn, _MARK, ()), decl))
    return fn


def api(path: str, *, waits: bool | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a global function: `@api("Storage.get")` or `@api("print")`."""
    owner, _, name = path.rpartition(".")
    return lambda fn: _mark(fn, Declaration(owner, name, waits, False))


def method(
    cls: str, name: str, *, waits: bool | None = None, also_global: tuple[str, Callable[[Any], Any]] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a method of a script object class. `also_global=("Storage", get_default)`
    also exposes it as `Storage.<name>` acting on a default object."""
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _mark(fn, Declaration(cls, name, waits, True))
        if also_global:
            _mark(fn, Declaration(also_global[0], name, waits, False, also_global[1]))
        return fn
    return deco
