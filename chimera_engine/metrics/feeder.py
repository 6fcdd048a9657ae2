"""MetricsFeeder: engine events -> the counters and histograms of :class:`EngineMetrics`.

One subscription (large queue) drained as events come: tool calls, audit
entries, anomalies and swarm tasks reaching a final state. Tool-call and task
events are droppable on the bus; if this subscriber ever falls that far behind,
the events it lost are counted in ``chimera_metrics_events_dropped_total`` so a
gap in a rate is visible rather than silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import Counter

from chimera_engine.events import (
    AnomalyDetected,
    AuditAppended,
    EventBus,
    Subscription,
    ToolCallCompleted,
)
from chimera_engine.metrics.exporter import EngineMetrics
from chimera_engine.swarm.events import TaskChanged

if TYPE_CHECKING:
    from chimera_engine.metrics.names import SeriesId

FINAL_TASK_STATES = frozenset({"succeeded", "failed", "cancelled", "quarantined"})
#: Distinct (metric, tool) pairs ``chimera_anomalies_total`` keeps apart; later ones
#: (pushed names come and go) are counted under metric "other" so the family stays bounded.
MAX_ANOMALY_SERIES = 1000


class MetricsFeeder:
    def __init__(
        self,
        bus: EventBus,
        metrics: EngineMetrics,
        *,
        identify: Callable[[str], SeriesId | None] = lambda key: None,
        maxsize: int = 200_000,
    ) -> None:
        self._bus = bus
        self._maxsize = maxsize
        self._metrics = metrics
        self._identify = identify
        self._anomaly_pairs: set[tuple[str, str]] = set()
        self._sub = self._subscribe()

    def _subscribe(self) -> Subscription:
        return self._bus.subscribe(
            ToolCallCompleted, AuditAppended, AnomalyDetected, TaskChanged, maxsize=self._maxsize
        )

    async def run(self) -> None:
        """Count events until cancelled (the subscription was opened at construction,
        so nothing published after it is missed; a node started again subscribes anew)."""
        if self._sub.closed:
            self._sub = self._subscribe()
        m = self._metrics
        audit_by_outcome: dict[str, Counter] = {}
        dropped = 0
        try:
            async for event in self._sub:
                if self._sub.dropped > dropped:
                    m.events_dropped.inc(self._sub.dropped - dropped)
                    dropped = self._sub.dropped
                if isinstance(event, ToolCallCompleted):
                    r = event.record
                    m.tool_calls.labels(r.tool, str(r.version), r.outcome).inc()
                    m.tool_duration.labels(r.tool).observe(max(0.0, r.duration_s))
                elif isinstance(event, AuditAppended):
                    outcome = event.entry.outcome
                    counter = audit_by_outcome.get(outcome)
                    if counter is None:  # a handful of outcomes: look each child up once
                        counter = audit_by_outcome[outcome] = m.audit_entries.labels(outcome)
                    counter.inc()
                elif isinstance(event, AnomalyDetected):
                    name, tool = self._anomaly_labels(event.event.metric)
                    m.anomalies.labels(name, tool, event.event.kind.value).inc()
                elif isinstance(event, TaskChanged) and event.state in FINAL_TASK_STATES:
                    m.swarm_tasks.labels(event.state).inc()
        finally:
            self._sub.close()

    def _anomaly_labels(self, key: str) -> tuple[str, str]:
        ident = self._identify(key)
        pair = (ident.name, ident.label_dict().get("tool", "")) if ident else (key, "")
        if pair not in self._anomaly_pairs:
            if len(self._anomaly_pairs) >= MAX_ANOMALY_SERIES:
                return ("other", "")
            self._anomaly_pairs.add(pair)
        return pair
