"""MetacognitiveEngine: per-tool-version health, and preventive learning.

It follows the bus: every finished tool call (with the failing calls' inputs
and tracebacks from the runtime), every anomaly and forecast on a tool's
metrics (``tool.error_rate``, ``tool.latency_ms``, ``tool.confidence``) and
every patch decision. From these it keeps one :class:`VersionHealth` per tool
version and decides when to act: a repeating failure (same exception type and
location), a confidence below the threshold with failed calls, a version much
slower than it started, a forecast or an anomaly in the bad direction (the
exact rules are :class:`~chimera_engine.heal.settings.HealSettings`'). Acting
means a patch request with the evidence attached, made as the system principal
``metacognition`` through the review queue (audited like an operator's
``chimera patch request``).

It never floods (:class:`Throttle`): one open request per module until its
patch is kept, rolled back or rejected; a doubling back-off after each failed
attempt; a budget per hour. Its decisions are published as
:class:`HealthChanged`, :class:`LearningRequested`, :class:`LearningDeferred`
and :class:`LearningFinished`, and its whole state is readable as a
:class:`HealStatus` (the facade's ``heal_status``).

Everything runs on the loop thread; handling one event costs microseconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from chimera_engine.audit.log import AuditLog
from chimera_engine.events import (
    AnomalyDetected,
    Event,
    EventBus,
    FailurePredicted,
    LearningDeferred,
    LearningFinished,
    LearningRequested,
    PatchChanged,
    Subscription,
    ToolCallCompleted,
)
from chimera_engine.heal.health import SignalEvidence, VersionHealth, is_bad_direction
from chimera_engine.heal.learner import OPEN_STATES, Learner, LearningEvidence
from chimera_engine.heal.observer import HealthObserver
from chimera_engine.heal.settings import HealSettings
from chimera_engine.heal.throttle import Throttle
from chimera_engine.heal.views import HealStatus, RequestView, tool_view
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.patches.review import ProposalOutcome
from chimera_engine.runtime import ToolRuntime
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.events import AgentChanged, TaskChanged

log = logging.getLogger(__name__)
_AGENT_GONE = ("stopped", "killed", "died", "hung")

Spawner = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]

PRINCIPAL = Principal.system("metacognition")
_GOOD_ENDS = frozenset({"kept", "superseded"})


@dataclass(kw_only=True)
class _Request:
    module: str
    version: int
    tool: str
    trigger: str
    reason: str
    since: float
    patch_id: int | None = None
    patch_state: str = ""
    in_flight: bool = True


class MetacognitiveEngine(HealthObserver):
    def __init__(
        self,
        *,
        settings: HealSettings,
        bus: EventBus,
        registry: VersionedToolRegistry,
        runtime: ToolRuntime,
        learner: Learner,
        audit: AuditLog,
        spawn: Spawner,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            settings=settings, bus=bus, registry=registry, runtime=runtime, clock=clock
        )
        self._learner = learner
        self._audit = audit
        self._spawn = spawn
        self.throttle = Throttle(
            backoff_s=settings.backoff_seconds,
            backoff_max_s=settings.backoff_max_seconds,
            per_hour=settings.max_requests_per_hour,
        )
        self._requests: dict[str, _Request] = {}
        self._patch_owner: dict[int, str] = {}
        self._patch_state: dict[int, str] = {}
        self._deferred: dict[str, str] = {}
        self._decisions: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sub: Subscription | None = None
        self._started = clock()
        self.requests_made = 0

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe, take note of patches already under way, and follow the bus."""
        self._started = self._clock()
        self._sub = self._bus.subscribe(
            ToolCallCompleted,
            AnomalyDetected,
            FailurePredicted,
            PatchChanged,
            TaskChanged,
            AgentChanged,
            maxsize=100_000,
        )
        for patch in await self._learner.open_patches():
            self._patch_state[patch.id] = patch.state.value
            self.throttle.track_foreign(patch.module, patch.id, open_=True)
        self._keep(self._spawn(self._run(self._sub), "metacognition"))

    async def stop(self) -> None:
        """Stop following the bus and cancel requests still being generated."""
        if self._sub is not None:
            self._sub.close()
        tasks = tuple(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, sub: Subscription) -> None:
        async for event in sub:
            try:
                self.handle(event)
            except Exception:  # one bad event must not end metacognition
                log.exception("metacognition could not handle %r", event)

    def handle(self, event: Event) -> None:
        """Update the health model from one event and act on it (synchronous, cheap)."""
        if isinstance(event, ToolCallCompleted):
            self._on_call(event)
        elif isinstance(event, AnomalyDetected):
            self._on_anomaly(event)
        elif isinstance(event, FailurePredicted):
            self._on_forecast(event)
        elif isinstance(event, PatchChanged):
            self._on_patch(event)
        elif isinstance(event, TaskChanged) and event.state == "succeeded":
            self.note_agent_task(event.agent, event.tool)
        elif isinstance(event, AgentChanged) and event.change in _AGENT_GONE:
            self.forget_agent(event.agent.id)

    def _on_call(self, event: ToolCallCompleted) -> None:
        r = event.record
        if r.outcome == "cancelled":
            return
        now = self._clock()
        h = self._health(r.tool, r.module, r.version)
        h.observe_call(ok=r.outcome == "ok", duration_s=r.duration_s, alpha=self.settings.alpha)
        trigger: tuple[str, str] | None = None
        if r.outcome != "ok":
            trigger = self._collect_failures(r.module)
        reason = f"{r.outcome} call" if r.outcome != "ok" else "successful call"
        self._publish_health(h, now, reason)
        if trigger is None and h.calls >= self.settings.min_calls and h.errors:
            conf = self._confidence(h, now)
            if conf < self.settings.confidence_threshold:
                trigger = (
                    "low_confidence",
                    f"confidence {conf:.2f} is below {self.settings.confidence_threshold:g} "
                    f"after {h.calls} calls ({h.errors} failed)",
                )
        if trigger is None:
            trigger = self._latency_trigger(h)
        if trigger is not None:
            self._consider(h, *trigger, now=now)

    def _on_anomaly(self, event: AnomalyDetected) -> None:
        a = event.event
        target = self._signal_target(a.metric)
        if target is None:
            return
        h, name = target
        bad = bool(is_bad_direction(name, a.value > a.expected))
        now = self._clock()
        h.add_signal(
            SignalEvidence(
                at=now,
                kind="anomaly",
                metric=a.metric,
                summary=(
                    f"{a.kind.value} on {a.metric}: {a.value:.4g} where {a.expected:.4g} "
                    f"was expected (score {a.score:.2f})"
                ),
                score=a.score,
                bad=bad,
            )
        )
        self._publish_health(h, now, f"anomaly on {name}")
        s = self.settings
        triggering = s.anomaly_triggers and name in s.anomaly_metric_names
        if bad and triggering and a.score >= s.anomaly_score:
            if self._settling(h, now):
                self._note(h.module, f"ignored an anomaly on {name}: v{h.version} is settling")
                return
            self._consider(
                h, "anomaly", f"{a.kind.value} on {a.metric} (score {a.score:.2f})", now=now
            )

    def _on_forecast(self, event: FailurePredicted) -> None:
        alert = event.alert
        target = self._signal_target(alert.metric)
        if target is None:
            return
        h, name = target
        bad = bool(is_bad_direction(name, alert.direction == "up"))
        now = self._clock()
        h.add_signal(
            SignalEvidence(
                at=now,
                kind="forecast",
                metric=alert.metric,
                summary=alert.message(),
                score=0.5,
                bad=bad,
            )
        )
        self._publish_health(h, now, f"forecast on {name}")
        if bad and self.settings.forecast_triggers:
            if self._settling(h, now):
                self._note(h.module, f"ignored a forecast on {name}: v{h.version} is settling")
                return
            self._consider(h, "forecast", alert.message(), now=now)

    # -- deciding -------------------------------------------------------------------------
    def _note(self, module: str, decision: str) -> None:
        self._decisions[module] = decision

    def _consider(self, h: VersionHealth, trigger: str, reason: str, *, now: float) -> None:
        """A trigger fired for ``h``: request a fix unless a limit says not now."""
        module = h.module
        if h.version != self._active_version(module):
            return
        if self.settings.observe_only:
            self._defer(module, trigger, "observe_only", "observing only (heal.observe_only)", None)
            return
        warmup_left = self._started + self.settings.warmup_seconds - now
        if warmup_left > 0:
            reason = f"the engine started {now - self._started:.0f} s ago; observing first"
            self._defer(module, trigger, "warmup", reason, now + warmup_left)
            return
        refusal = self.throttle.refusal(module, now)
        if refusal is not None:
            self._defer(module, trigger, refusal.cause, refusal.reason, refusal.until)
            return
        self._deferred.pop(module, None)
        self.throttle.opened(module, now)
        self.requests_made += 1
        request = _Request(
            module=module, version=h.version, tool=h.tool, trigger=trigger, reason=reason, since=now
        )
        self._requests[module] = request
        evidence = LearningEvidence(
            tool=h.tool,
            version=h.version,
            trigger=trigger,
            reason=reason,
            confidence=self._confidence(h, now),
            success_rate=h.success_rate,
            latency_ms_p50=h.latency_ms_p50,
            calls=h.calls,
            signals=tuple(s.summary for s in h.signals if s.bad),
        )
        self._note(module, f"requested a fix ({trigger}): {reason}")
        self._bus.publish(
            LearningRequested(
                module=module,
                version=h.version,
                tool=h.tool,
                trigger=trigger,
                reason=reason,
                evidence=(
                    *(f"{f.signature}: {f.message}" for f in h.failures),
                    *evidence.signals,
                ),
            )
        )
        self._keep(self._spawn(self._learn(request, evidence), f"learn-{module}"))

    def _defer(
        self, module: str, trigger: str, cause: str, reason: str, until: float | None
    ) -> None:
        self._note(module, f"did not request a fix ({trigger}): {reason}")
        if self._deferred.get(module) == cause:
            return
        self._deferred[module] = cause
        self._bus.publish(
            LearningDeferred(module=module, trigger=trigger, reason=reason, until=until)
        )

    async def _learn(self, request: _Request, evidence: LearningEvidence) -> None:
        health = self.health.get((request.tool, request.version))
        try:
            await self._audit.record(
                PRINCIPAL,
                "heal.request",
                target=request.module,
                version=request.version,
                tool=request.tool,
                trigger=request.trigger,
                reason=request.reason,
                confidence=round(evidence.confidence, 4),
                failures=len(health.failures) if health is not None else 0,
                signals=list(evidence.signals),
            )
            outcome: ProposalOutcome | None = await self._learner.request(
                request.module, evidence, PRINCIPAL
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("learning request for %s failed: %s", request.module, exc)
            request.in_flight = False
            self._finish(request, "error", f"{type(exc).__name__}: {exc}")
            return
        request.in_flight = False
        patch = outcome.patch if outcome is not None else None
        for pid, owner in list(self._patch_owner.items()):  # candidates of this request
            if owner == request.module and pid != (patch.id if patch else None):
                self._patch_owner.pop(pid, None)
        if patch is None:
            reasons = "; ".join(outcome.report.reasons[-2:]) if outcome else ""
            self._finish(request, "no_patch", reasons or "the generator made no patch")
            return
        request.patch_id = patch.id
        self._patch_owner[patch.id] = request.module
        state = self._patch_state.get(patch.id, patch.state.value)
        request.patch_state = state
        self._after_patch_state(request, state, patch.reason)

    def _after_patch_state(self, request: _Request, state: str, reason: str) -> None:
        if state in OPEN_STATES:
            self._note(request.module, f"patch {request.patch_id} is {state}")
            return
        self._finish(request, state, reason)

    def _finish(self, request: _Request, outcome: str, reason: str) -> None:
        if self._requests.get(request.module) is not request:
            return
        del self._requests[request.module]
        if request.patch_id is not None:
            self._patch_owner.pop(request.patch_id, None)
        ok = outcome in _GOOD_ENDS
        until = self.throttle.closed(request.module, ok=ok, now=self._clock())
        self._deferred.pop(request.module, None)
        detail = (
            f"; backing off until {time.strftime('%H:%M:%S', time.localtime(until))}"
            if until
            else ""
        )
        self._note(request.module, f"request ended: {outcome} ({reason}){detail}")
        self._bus.publish(
            LearningFinished(
                module=request.module,
                version=request.version,
                outcome=outcome,
                patch_id=request.patch_id,
                reason=reason,
                backoff_until=until,
            )
        )

    def _on_patch(self, event: PatchChanged) -> None:
        self._patch_state[event.patch_id] = event.state
        if len(self._patch_state) > 2000:
            for pid in sorted(self._patch_state)[:1000]:
                self._patch_state.pop(pid, None)
        request = self._requests.get(event.module)
        if request is not None and request.in_flight:
            self._patch_owner[event.patch_id] = event.module  # a candidate being made for us
            return
        if request is not None and request.patch_id == event.patch_id:
            request.patch_state = event.state
            self._after_patch_state(request, event.state, event.reason)
            return
        if event.patch_id in self._patch_owner:
            return
        self.throttle.track_foreign(event.module, event.patch_id, open_=event.state in OPEN_STATES)

    # -- reading --------------------------------------------------------------------------
    def status(self) -> HealStatus:
        now = self._clock()
        views = [
            tool_view(
                h,
                active=h.version == self._active_version(h.module),
                state=self._state(h, now),
                confidence=self._confidence(h, now),
                request=self._request_view(h.module),
                limits=self.throttle.limits(h.module),
                decision=self._decisions.get(h.module, ""),
                now=now,
            )
            for _, h in sorted(self.health.items())
        ]
        return HealStatus(
            enabled=True,
            observe_only=self.settings.observe_only,
            requests_last_hour=self.throttle.used(now),
            max_requests_per_hour=self.settings.max_requests_per_hour,
            requests_made=self.requests_made,
            tools=tuple(views),
        )

    def _request_view(self, module: str) -> RequestView | None:
        request = self._requests.get(module)
        if request is None:
            return None
        return RequestView(
            module=request.module,
            version=request.version,
            trigger=request.trigger,
            reason=request.reason,
            since=request.since,
            patch_id=request.patch_id,
            patch_state=request.patch_state,
        )
