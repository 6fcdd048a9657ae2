"""Versions of tool modules and of the tools they provide."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from types import ModuleType
from typing import Any

from chimera_engine.tooling import describe_signature


class Origin(StrEnum):
    INITIAL = "initial"
    FILE_CHANGE = "file_change"
    PATCH = "patch"
    ROLLBACK = "rollback"
    DEPENDENCY = "dependency"
    MANUAL = "manual"
    RESTORE = "restore"


class VersionState(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DEPRECATED = "deprecated"
    RETIRED = "retired"
    FAILED = "failed"


@dataclass(eq=False)
class ToolVersion:
    """One tool as provided by one module version. Counters are updated by the runtime."""

    name: str
    module: str
    version: int
    fn: Callable[..., Any]
    signature: inspect.Signature
    description: str
    is_async: bool
    timeout: float | None
    param_types: dict[str, type] = field(default_factory=dict)
    calls: int = 0
    errors: int = 0
    total_seconds: float = 0.0

    @property
    def qualified(self) -> str:
        return f"{self.name}@{self.version}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "signature": describe_signature(self.signature),
            "description": self.description,
            "async": self.is_async,
        }


@dataclass(eq=False)
class ModuleVersion:
    """One load of one tool module. ``loaded`` is None once released from memory."""

    module: str
    version: int
    content_hash: str
    source: str
    created_at: float
    origin: Origin
    state: VersionState
    error: str = ""
    parent: int | None = None
    tool_info: list[dict[str, Any]] = field(default_factory=list)
    loaded: ModuleType | None = None
    tools: dict[str, ToolVersion] = field(default_factory=dict)
    in_flight: int = 0
    calls: int = 0
    errors: int = 0
    draining: bool = False  # superseded by a switch; deprecated once its calls finish
    #: When it last went live (wall clock); None if it never served.
    activated_at: float | None = None
    #: The judgement on how it served, given when it is replaced: "good" (a rollback
    #: target), "unproven: ..." or "bad: ..." (never a rollback target), "" (not yet judged).
    verdict: str = ""

    @property
    def served_well(self) -> bool:
        return self.verdict == "good"

    @property
    def label(self) -> str:
        return f"{self.module} v{self.version}"

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True, kw_only=True)
class ReloadResult:
    """What a reload did: the versions it activated, or why it refused."""

    module: str
    ok: bool
    version: int | None = None
    previous: int | None = None
    origin: Origin = Origin.MANUAL
    reason: str = ""
    stage: str = ""
    duration_ms: float = 0.0
    dependants: tuple[str, ...] = ()
    unchanged: bool = False


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """One finished tool call, as published on the event bus."""

    tool: str
    module: str
    version: int
    started_at: float
    duration_s: float
    outcome: str  # ok, error, timeout, cancelled
    exception_type: str = ""
    message: str = ""
    caller: str = ""
    deprecated: bool = False
