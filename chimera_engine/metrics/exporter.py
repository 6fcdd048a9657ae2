"""The engine's metric families for Prometheus, one registry per node (no globals).

Names follow Prometheus practice: a ``chimera_`` prefix, base units (seconds,
bytes, ratios in [0, 1]), counters ending in ``_total``, labels as labels. The
families updated from engine events live here (:class:`EngineMetrics`); the ones
read from the hub and the stores at scrape time are in
:mod:`chimera_engine.metrics.families` and :mod:`chimera_engine.metrics.snapshot`.
The registry also holds prometheus_client's process, platform and GC collectors
(``process_*``, ``python_*``).

:func:`negotiate` picks OpenMetrics when the scraper asks for it in ``Accept``,
the classic text format (0.0.4) otherwise.

>>> negotiate("application/openmetrics-text; version=1.0.0,text/plain;q=0.5")[1]
'application/openmetrics-text; version=1.0.0; charset=utf-8'
>>> negotiate("")[1]
'text/plain; version=0.0.4; charset=utf-8'
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from chimera_engine.metrics.encode import encode_openmetrics, encode_text

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

#: Loop lag: from 1 ms (healthy) to a minute (a frozen loop is still measured).
LOOP_LAG_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
#: Tool calls: from 1 ms to the longest default timeout.
TOOL_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.25, 1.0, 2.5, 10.0, 30.0, 120.0)
HTTP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def negotiate(accept: str) -> tuple[Callable[[CollectorRegistry], bytes], str]:
    """The encoder and content type for an ``Accept`` header."""
    for part in accept.split(","):
        if part.split(";", 1)[0].strip().lower() == "application/openmetrics-text":
            return encode_openmetrics, OPENMETRICS_CONTENT_TYPE
    return encode_text, CONTENT_TYPE


class EngineMetrics:
    """Counters, gauges and histograms the engine updates as things happen.

    Thread-safe to update (prometheus_client locks each child); :meth:`render`
    may run in an executor once the scrape-time collectors are prepared.
    """

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.loop_lag = Histogram(
            "chimera_loop_lag_seconds",
            "How late the event loop woke up for a timer",
            buckets=LOOP_LAG_BUCKETS,
            registry=r,
        )
        self.loop_lag_p99 = Gauge(
            "chimera_loop_lag_p99_seconds",
            "99th percentile of the loop lag over the last reporting window",
            registry=r,
        )
        self.audit_entries = Counter(
            "chimera_audit_entries", "Audit entries written", ["outcome"], registry=r
        )
        self.up = Gauge("chimera_engine_up", "1 while the engine runs", registry=r)
        self.tool_calls = Counter(
            "chimera_tool_calls",
            "Tool calls finished by tool, version and outcome (ok, error, timeout, cancelled)",
            ["tool", "version", "outcome"],
            registry=r,
        )
        self.tool_duration = Histogram(
            "chimera_tool_call_duration_seconds",
            "Duration of finished tool calls",
            ["tool"],
            buckets=TOOL_BUCKETS,
            registry=r,
        )
        self.anomalies = Counter(
            "chimera_anomalies",
            "Anomalies raised, by metric name, the tool it is about (empty if none) and kind",
            ["metric", "tool", "kind"],
            registry=r,
        )
        self.swarm_tasks = Counter(
            "chimera_swarm_tasks",
            "Swarm tasks that reached a final state, by state",
            ["state"],
            registry=r,
        )
        self.http_requests = Counter(
            "chimera_http_requests",
            "HTTP requests answered, by route template, method and status code",
            ["route", "method", "code"],
            registry=r,
        )
        self.http_duration = Histogram(
            "chimera_http_request_duration_seconds",
            "Time to answer an HTTP request (WebSocket sessions excluded)",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.events_dropped = Counter(
            "chimera_metrics_events_dropped",
            "Engine events the exporter could not count because it fell behind",
            registry=r,
        )

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition body and its content type for an ``Accept`` header."""
        encode, content_type = negotiate(accept)
        return encode(self.registry), content_type
