"""HealthObserver: the health model part of metacognition, one model per tool version.

It turns calls, the runtime's failed calls (inputs and tracebacks) and the
signals on a tool's metrics into :class:`VersionHealth` records, publishes
:class:`HealthChanged` when a version's state or confidence moves, and names the
triggers the health model itself sees (a repeating failure, a slowdown).
Deciding what to do about them is :class:`~chimera_engine.heal.engine.MetacognitiveEngine`'s.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable

from chimera_engine.events import EventBus, HealthChanged
from chimera_engine.heal.health import (
    AGENT_METRICS,
    FailureEvidence,
    VersionHealth,
    failure_location,
    is_bad_direction,
    split_metric,
)
from chimera_engine.heal.settings import HealSettings
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.runtime import ToolRuntime

_VERSIONS_KEPT = 3


class HealthObserver:
    def __init__(
        self,
        *,
        settings: HealSettings,
        bus: EventBus,
        registry: VersionedToolRegistry,
        runtime: ToolRuntime,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self._bus = bus
        self._registry = registry
        self._runtime = runtime
        self._clock = clock
        self.health: dict[tuple[str, int], VersionHealth] = {}
        self._published: dict[tuple[str, int], tuple[str, float]] = {}
        self._failures_seen: dict[str, float] = {}
        self._agent_tools: dict[str, deque[str]] = {}

    def _health(self, tool: str, module: str, version: int) -> VersionHealth:
        key = (tool, version)
        h = self.health.get(key)
        if h is None:
            n = self.settings.evidence_size
            h = self.health[key] = VersionHealth(
                tool=tool,
                module=module,
                version=version,
                since=self._clock(),
                failures=deque(maxlen=n),
                signals=deque(maxlen=n),
            )
            old = sorted(v for (t, v) in self.health if t == tool)[:-_VERSIONS_KEPT]
            for v in old:
                self.health.pop((tool, v), None)
                self._published.pop((tool, v), None)
        return h

    def _confidence(self, h: VersionHealth, now: float) -> float:
        s = self.settings
        return h.confidence(now, anomaly_weight=s.anomaly_weight, memory_s=s.anomaly_memory_seconds)

    def _state(self, h: VersionHealth, now: float) -> str:
        s = self.settings
        return h.state(
            now,
            threshold=s.confidence_threshold,
            anomaly_weight=s.anomaly_weight,
            memory_s=s.anomaly_memory_seconds,
        )

    def _publish_health(self, h: VersionHealth, now: float, reason: str) -> None:
        key = (h.tool, h.version)
        state, conf = self._state(h, now), self._confidence(h, now)
        last_state, last_conf = self._published.get(key, ("unknown", 1.0))
        if state == last_state and abs(conf - last_conf) < 0.1:
            return
        self._published[key] = (state, conf)
        self._bus.publish(
            HealthChanged(
                tool=h.tool,
                module=h.module,
                version=h.version,
                state=state,
                confidence=round(conf, 4),
                previous_confidence=round(last_conf, 4),
                reason=reason,
            )
        )

    def _active_version(self, module: str) -> int | None:
        active = self._registry.active.get(module)
        return active.version if active is not None else None

    def _latency_trigger(self, h: VersionHealth) -> tuple[str, str] | None:
        """A version that got much slower than it started (a leak, a growing scan)."""
        s = self.settings
        shift = h.latency_shift(s.latency_window) if s.latency_factor > 0 else None
        if shift is None:
            return None
        first, recent = shift
        if recent <= max(first * s.latency_factor, first + s.latency_floor_ms):
            return None
        return (
            "latency",
            f"median latency {recent:.1f} ms over the last {s.latency_window} calls, "
            f"{first:.2f} ms over the first {s.latency_window}",
        )

    def _collect_failures(self, module: str) -> tuple[str, str] | None:
        """Take the runtime's new failed calls of ``module`` as evidence; the strongest
        repeating pattern (or None)."""
        seen = self._failures_seen.get(module, 0.0)
        fresh = [f for f in self._runtime.recent_failures(module) if f.at > seen]
        found: tuple[int, str] | None = None
        active = self._active_version(module)
        for f in reversed(fresh):  # oldest first
            self._failures_seen[module] = max(self._failures_seen.get(module, 0.0), f.at)
            h = self._health(f.tool, f.module, f.version)
            evidence = FailureEvidence(
                at=f.at,
                tool=f.tool,
                exception_type=f.exception_type,
                message=f.message,
                location=failure_location(f.traceback, module),
                args=f.args,
                traceback=f.traceback,
            )
            count = h.add_failure(evidence)
            repeating = count >= self.settings.repeat_failures
            if repeating and f.version == active and (found is None or count > found[0]):
                found = (count, f"{evidence.signature} raised {count} times")
        return None if found is None else ("failure_pattern", found[1])

    def note_agent_task(self, agent: str, tool: str) -> None:
        """``agent`` finished a task running ``tool`` (the last 200 per agent are kept)."""
        if agent and tool:
            self._agent_tools.setdefault(agent, deque(maxlen=200)).append(tool)

    def forget_agent(self, agent: str) -> None:
        self._agent_tools.pop(agent, None)

    def agent_tool(self, agent: str) -> str | None:
        """The tool ``agent`` ran most among its recent tasks (None: none seen)."""
        recent = self._agent_tools.get(agent)
        if not recent:
            return None
        return Counter(recent).most_common(1)[0][0]

    def _signal_target(self, metric_key: str) -> tuple[VersionHealth, str] | None:
        """The active tool version a metric is about, and the metric's name (None: not a
        health metric, or a tool without an active version). An agent's metric is about
        the tool it ran most lately."""
        name, labels = split_metric(metric_key)
        tool = labels.get("tool")
        if tool is None and name in AGENT_METRICS:
            tool = self.agent_tool(labels.get("agent", ""))
        if tool is None or is_bad_direction(name, True) is None:
            return None
        module = self._registry.owner_of(tool)
        version = self._active_version(module) if module else None
        if module is None or version is None:
            return None
        return self._health(tool, module, version), name

    def _settling(self, h: VersionHealth, now: float) -> bool:
        try:
            created = self._registry.get(h.module, h.version).created_at
        except Exception:
            created = h.since
        return now - created < self.settings.settle_seconds
