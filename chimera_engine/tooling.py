"""What workspace modules import: the ``@tool`` marker and signature helpers.

A workspace tool is a plain function (sync or async) with type hints, marked::

    from chimera_engine.tooling import tool

    @tool(name="clean_csv", description="Trim cells and drop empty rows")
    def clean_csv(text: str, delimiter: str = ",") -> str:
        ...

A module may carry state across hot reloads by defining
``__chimera_state__() -> dict`` (called on the old version) and
``__chimera_restore__(state: dict) -> None`` (called on the new one). When the
shape changes, set ``__chimera_state_version__`` and define
``__chimera_migrate__(old_state: dict, old_version: int) -> dict``. An optional
``__chimera_smoke__()`` runs after loading; if it raises, the version is refused.

This module must stay light: agents and the sandbox import it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

MARKER = "__chimera_tool__"


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """What the ``@tool`` marker records on a function."""

    name: str
    description: str
    timeout: float | None = None


def tool(
    name: str | None = None, *, description: str = "", timeout: float | None = None
) -> Callable[[F], F]:
    """Mark a function as a workspace tool. ``timeout`` (seconds) overrides the default."""

    def mark(fn: F) -> F:
        doc = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
        spec = ToolSpec(name=name or fn.__name__, description=description or doc, timeout=timeout)
        setattr(fn, MARKER, spec)
        return fn

    return mark


def tool_spec(obj: object) -> ToolSpec | None:
    spec = getattr(obj, MARKER, None)
    return spec if isinstance(spec, ToolSpec) else None


class _Written(str):
    """An annotation kept as text (``from __future__ import annotations``), shown unquoted."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def describe_signature(signature: inspect.Signature) -> str:
    """The signature with annotations as written.

    >>> def f(text: str, sep: str = ",") -> list[str]: ...
    >>> describe_signature(inspect.signature(f))
    "(text: str, sep: str = ',') -> list[str]"
    """

    def plain(annotation: Any) -> Any:
        return _Written(annotation) if isinstance(annotation, str) else annotation

    params = [p.replace(annotation=plain(p.annotation)) for p in signature.parameters.values()]
    return str(
        signature.replace(parameters=params, return_annotation=plain(signature.return_annotation))
    )


def incompatibility(old: inspect.Signature, new: inspect.Signature) -> str | None:
    """Why callers of ``old`` would break with ``new``, or None if they would not.

    A new parameter must have a default; an old one must keep its name and kind
    and must not lose its default.

    >>> import inspect
    >>> def a(x: int, y: int = 0) -> int: ...
    >>> def b(x: int, y: int = 0, z: int = 1) -> int: ...
    >>> def c(x: int, z: int) -> int: ...
    >>> incompatibility(inspect.signature(a), inspect.signature(b)) is None
    True
    >>> incompatibility(inspect.signature(a), inspect.signature(c))
    "parameter 'y' was removed"
    """
    new_params = new.parameters
    accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in new_params.values())
    for pname, param in old.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if pname not in new_params:
            if accepts_kwargs:
                continue
            return f"parameter {pname!r} was removed"
        counterpart = new_params[pname]
        if counterpart.kind != param.kind:
            kinds = f"{param.kind.description} -> {counterpart.kind.description}"
            return f"parameter {pname!r} changed kind ({kinds})"
        if param.default is not param.empty and counterpart.default is counterpart.empty:
            return f"parameter {pname!r} lost its default"
    for pname, param in new_params.items():
        if pname in old.parameters or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.default is param.empty:
            return f"new parameter {pname!r} has no default"
    return None
