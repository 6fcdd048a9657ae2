"""The fast encoders write exactly what prometheus_client writes, in both formats."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector

from chimera_engine.metrics.encode import encode_openmetrics, encode_text
from chimera_engine.metrics.exporter import EngineMetrics

NASTY = 'back\\slash "quoted"\nnew line, comma=equals {brace} é'


class Fixed(Collector):
    def collect(self):  # type: ignore[no-untyped-def]
        g = GaugeMetricFamily(
            "fixed_gauge", 'help with \\ and "quotes"\nand a newline', unit="bytes"
        )
        g.add_metric([], 3.5, timestamp=1700000000.25)
        yield g
        c = CounterMetricFamily("fixed_events", "counted", labels=["k"], created=1700000000.0)
        c.add_metric([NASTY], 7)
        yield c
        u = UnknownMetricFamily("fixed_unknown", "unknown", labels=["a"])
        u.add_metric(["x"], float("inf"))
        u.add_metric(["y"], float("nan"))
        yield u
        gh = GaugeHistogramMetricFamily(
            "fixed_gh", "a gauge histogram", buckets=[("1.0", 2), ("+Inf", 3)], gsum_value=4
        )
        yield gh


def registry() -> CollectorRegistry:
    r = CollectorRegistry()
    c = Counter("calls", "calls", ["tool", "outcome"], registry=r)
    c.labels(NASTY, "ok").inc(3)
    c.labels("plain", "error").inc()
    Gauge("temperature_celsius", "temp", registry=r).set(-1.5e-7)
    g = Gauge("values", "values", ["v"], registry=r)
    for i, value in enumerate((0.0, -0.0, 1e-9, 999999.99, 1e6, 123456789.0, -2e9, 1e300)):
        g.labels(str(i)).set(value)
    h = Histogram("duration_seconds", "dur", ["tool"], registry=r)
    h.labels("t").observe(0.3)
    h.labels(NASTY).observe(1e6)
    Summary("size_bytes", "size", registry=r).observe(12)
    Info("build", "build info", registry=r).info({"version": "1.2", "commit": NASTY})
    Enum("state", "state", states=["a", "b"], registry=r).state("b")
    r.register(Fixed())
    return r


def test_same_bytes_as_prometheus_client() -> None:
    r = registry()
    assert encode_text(r) == generate_latest(r)
    assert encode_openmetrics(r) == openmetrics.generate_latest(r)


def test_same_bytes_on_the_engine_registry() -> None:
    metrics = EngineMetrics()
    metrics.tool_calls.labels("clean_csv", "2", "ok").inc()
    metrics.tool_duration.labels("clean_csv").observe(0.02)
    # process and GC figures move between two renders: compare the engine's own families
    for name in ("process_", "python_gc_"):
        for collector in list(metrics.registry._collector_to_names):
            if any(n.startswith(name) for n in metrics.registry._collector_to_names[collector]):
                metrics.registry.unregister(collector)
    assert encode_text(metrics.registry) == generate_latest(metrics.registry)
    assert encode_openmetrics(metrics.registry) == openmetrics.generate_latest(metrics.registry)
