"""The engine's own metrics in Prometheus text format, one registry per node (no globals)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class EngineMetrics:
    """Counters and gauges the engine updates; :meth:`render` gives the exposition text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.loop_lag = Histogram(
            "chimera_loop_lag_seconds",
            "How late the event loop woke up for a timer",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.loop_lag_p99 = Gauge(
            "chimera_loop_lag_p99_seconds",
            "99th percentile of the loop lag over the last reporting window",
            registry=self.registry,
        )
        self.audit_entries = Counter(
            "chimera_audit_entries", "Audit entries written", ["outcome"], registry=self.registry
        )
        self.up = Gauge("chimera_engine_up", "1 while the engine runs", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class LatestValues(Collector):
    """Exports the latest value of every hub metric as ``chimera_metric{metric="..."}``."""

    def __init__(self, latest: Callable[[], Iterable[tuple[str, float]]]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "chimera_metric", "Latest value of each metric the engine watches", labels=["metric"]
        )
        for key, value in self._latest():
            family.add_metric([key], value)
        yield family
