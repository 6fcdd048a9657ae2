"""HubFamilies: what the hub holds, as Prometheus families built at scrape time.

- Series pushed by clients and series scraped from targets keep their own name
  (made valid for Prometheus) and labels; a scraped counter stays a counter.
  Names under the engine's prefixes (``chimera_``, ``process_``, ``python_``)
  are not exported (they would shadow the engine's own families) and are
  counted in ``chimera_series_unexported``.
- A few engine series with no event-driven family are exported in base units
  (:data:`ENGINE_EXPORTS`); the others (calls, latencies, process figures) are
  covered by real counters and histograms.
- ``chimera_anomaly_score{metric,tool}``: the highest latest score among the
  series of that metric name and tool; ``chimera_forecast_crossing_seconds``:
  seconds until a forecast crossing of a watched threshold.
- ``chimera_series{origin}``, ``chimera_series_limit{scope}`` and
  ``chimera_series_refused_total{origin,reason}``: the push cap at work.

Call :meth:`HubFamilies.prepare` on the event loop (it reads the hub); the
families it built are then immutable, so rendering may run in an executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from chimera_engine.metrics.names import label_name, prometheus_name

if TYPE_CHECKING:
    from chimera_engine.metrics.hub import MetricsHub, SeriesMeta

#: hub name -> (exported name, scale to the base unit, help text)
ENGINE_EXPORTS: dict[str, tuple[str, float, str]] = {
    "tool.confidence": (
        "chimera_tool_confidence_ratio",
        1.0,
        "Confidence in each tool: an exponentially weighted success rate (0-1)",
    ),
    "host.cpu_percent": ("chimera_host_cpu_ratio", 0.01, "CPU use of the host, all cores (0-1)"),
    "host.memory_percent": ("chimera_host_memory_ratio", 0.01, "Memory in use on the host (0-1)"),
}
RESERVED_PREFIXES = ("chimera_", "process_", "python_")
_TYPES = {"gauge": "gauge", "counter": "counter"}
_HELP = {"push": "Pushed to the engine", "scrape": "Scraped by the engine"}


class HubFamilies(Collector):
    def __init__(self, hub: MetricsHub, *, clock: Callable[[], float] = time.time) -> None:
        self._hub = hub
        self._clock = clock
        self._prepared: list[Metric] = []

    def describe(self) -> list[Metric]:
        return []  # names vary with what is pushed; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._prepared

    def prepare(self) -> None:
        """Build the families from the hub's current state (on the loop thread)."""
        hub = self._hub
        out: dict[str, Metric] = {}
        sample_names: dict[str, str] = {}  # sample name -> family that owns it
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        counts = {"engine": 0, "push": 0, "scrape": 0}
        unexported = 0
        scores: dict[tuple[str, str], float] = {}
        for key, meta, value in hub.exported():
            counts[meta.origin] = counts.get(meta.origin, 0) + 1
            score = hub.score(key)
            if score is not None:
                group = (meta.id.name, meta.id.label_dict().get("tool", ""))
                scores[group] = max(score, scores.get(group, 0.0))
            if meta.origin == "engine":
                mapped = ENGINE_EXPORTS.get(meta.id.name)
                if mapped is not None:
                    name, scale, doc = mapped
                    family = out.get(name) or out.setdefault(name, Metric(name, doc, "gauge"))
                    family.samples.append(Sample(name, _labels(meta), value * scale))
                continue
            if not _add_external(out, sample_names, seen, meta, value):
                unexported += 1
        yield_order = list(out.values())
        yield_order.append(_scores(scores))
        yield_order.append(self._forecasts())
        yield_order.extend(self._series(counts, unexported))
        self._prepared = yield_order

    def _forecasts(self) -> Metric:
        family = Metric(
            "chimera_forecast_crossing_seconds",
            "Seconds until a metric is forecast to cross a watched threshold",
            "gauge",
        )
        now = self._clock()
        latest: dict[tuple[str, float], float] = {}
        for alert in self._hub.predictions:
            latest[alert.metric, alert.threshold] = alert.t + alert.minutes * 60.0
        for (key, threshold), at in sorted(latest.items()):
            if at <= now:
                continue
            meta = self._hub.meta(key)
            name = meta.id.name if meta else key
            tool = meta.id.label_dict().get("tool", "") if meta else ""
            labels = {"metric": name, "tool": tool, "threshold": _number(threshold)}
            family.samples.append(Sample(family.name, labels, at - now))
        return family

    def _series(self, counts: dict[str, int], unexported: int) -> list[Metric]:
        cap = self._hub.cap
        held = Metric("chimera_series", "Series the hub holds, by origin", "gauge")
        for origin, n in sorted(counts.items()):
            held.samples.append(Sample("chimera_series", {"origin": origin}, n))
        limit = Metric(
            "chimera_series_limit", "Series a principal, and all together, may push", "gauge"
        )
        limit.samples.append(Sample("chimera_series_limit", {"scope": "principal"}, cap.per_owner))
        limit.samples.append(Sample("chimera_series_limit", {"scope": "total"}, cap.total))
        refused = Metric(
            "chimera_series_refused", "New series refused by the series cap", "counter"
        )
        for origin in ("push", "scrape"):
            for reason in ("owner_limit", "total_limit"):
                refused.samples.append(
                    Sample(
                        "chimera_series_refused_total",
                        {"origin": origin, "reason": reason},
                        cap.refused[origin, reason],
                    )
                )
        hidden = Metric(
            "chimera_series_unexported",
            "Pushed or scraped series left out of /metrics (reserved or clashing name)",
            "gauge",
        )
        hidden.samples.append(Sample("chimera_series_unexported", {}, unexported))
        return [held, limit, refused, hidden]


def _labels(meta: SeriesMeta) -> dict[str, str]:
    return {label_name(k): v for k, v in meta.id.labels}


def _number(x: float) -> str:
    return f"{x:g}"


def _scores(scores: dict[tuple[str, str], float]) -> Metric:
    family = Metric(
        "chimera_anomaly_score",
        "Latest anomaly score (0-1), the highest among the series of a metric and tool",
        "gauge",
    )
    for (metric, tool), score in sorted(scores.items()):
        family.samples.append(
            Sample("chimera_anomaly_score", {"metric": metric, "tool": tool}, score)
        )
    return family


def _add_external(
    out: dict[str, Metric],
    sample_names: dict[str, str],
    seen: set[tuple[str, tuple[tuple[str, str], ...]]],
    meta: SeriesMeta,
    value: float,
) -> bool:
    sample = prometheus_name(meta.export)
    if not sample or sample.startswith(RESERVED_PREFIXES):
        return False
    typ = _TYPES.get(meta.kind, "unknown")
    if typ == "counter" and not sample.endswith("_total"):
        typ = "unknown"
    family_name = sample[: -len("_total")] if typ == "counter" else sample
    family = out.get(family_name)
    if family is None:
        if sample in sample_names or family_name in sample_names:
            return False  # another family already emits this sample name
        family = out[family_name] = Metric(family_name, _HELP.get(meta.origin, "series"), typ)
        sample_names[sample] = family_name
        sample_names.setdefault(family_name, family_name)
    elif family.type != typ or sample_names.get(sample) != family_name:
        return False
    labels = _labels(meta)
    ident = (sample, tuple(sorted(labels.items())))
    if ident in seen:
        return False
    seen.add(ident)
    family.samples.append(Sample(sample, labels, value))
    return True
