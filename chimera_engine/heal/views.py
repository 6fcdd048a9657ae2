"""Snapshots of metacognition's state, safe to hand to any thread, view or client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chimera_engine.heal.health import VersionHealth
from chimera_engine.heal.throttle import ModuleLimits


@dataclass(frozen=True, kw_only=True)
class FailureView:
    at: float
    exception_type: str
    message: str
    location: str
    args: dict[str, Any]
    traceback: str


@dataclass(frozen=True, kw_only=True)
class SignalView:
    at: float
    kind: str
    metric: str
    summary: str
    score: float
    bad: bool


@dataclass(frozen=True, kw_only=True)
class RequestView:
    """The open learning request of a module (``patch_id`` once a patch exists)."""

    module: str
    version: int
    trigger: str
    reason: str
    since: float
    patch_id: int | None
    patch_state: str


@dataclass(frozen=True, kw_only=True)
class ToolHealthView:
    """One tool version: health, confidence and the evidence behind it."""

    tool: str
    module: str
    version: int
    active: bool
    state: str
    confidence: float
    running_success: float
    success_rate: float
    calls: int
    errors: int
    latency_ms_p50: float
    top_failure: str
    top_failure_count: int
    failures: tuple[FailureView, ...]
    signals: tuple[SignalView, ...]
    open_request: RequestView | None
    failed_attempts: int
    backoff_until: float | None
    last_decision: str


@dataclass(frozen=True, kw_only=True)
class HealStatus:
    """Metacognition as a whole: its limits and every tool version it follows."""

    enabled: bool
    observe_only: bool
    requests_last_hour: int
    max_requests_per_hour: int
    requests_made: int
    tools: tuple[ToolHealthView, ...]


def tool_view(
    h: VersionHealth,
    *,
    active: bool,
    state: str,
    confidence: float,
    request: RequestView | None,
    limits: ModuleLimits,
    decision: str,
    now: float,
) -> ToolHealthView:
    """The snapshot of one tool version's health model."""
    top = h.top_signature()
    return ToolHealthView(
        tool=h.tool,
        module=h.module,
        version=h.version,
        active=active,
        state=state,
        confidence=confidence,
        running_success=h.success,
        success_rate=h.success_rate,
        calls=h.calls,
        errors=h.errors,
        latency_ms_p50=h.latency_ms_p50,
        top_failure=top[0] if top else "",
        top_failure_count=top[1] if top else 0,
        failures=tuple(
            FailureView(
                at=f.at,
                exception_type=f.exception_type,
                message=f.message,
                location=f.location,
                args=f.args,
                traceback=f.traceback,
            )
            for f in h.failures
        ),
        signals=tuple(
            SignalView(
                at=s.at, kind=s.kind, metric=s.metric, summary=s.summary, score=s.score, bad=s.bad
            )
            for s in h.signals
        ),
        open_request=request,
        failed_attempts=limits.failures,
        backoff_until=limits.backoff_until if limits.backoff_until > now else None,
        last_decision=decision,
    )
