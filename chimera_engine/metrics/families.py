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

Call :meth:`HubFamilies.prepare` on the event loop (it copies what it needs from
the hub), then :meth:`HubFamilies.build` and the rendering may run in an executor.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from chimera_engine.metrics.names import Expo, label_name, prometheus_name

if TYPE_CHECKING:
    from chimera_engine.anomaly.engine import PredictiveAlert
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
    """Two parts: the per-series families (pushed, scraped, :data:`ENGINE_EXPORTS`),
    written straight to text by :meth:`text` with each series' line prefix cached
    on first export (tens of thousands of series cost a few milliseconds), and the
    small derived families, yielded by :meth:`collect` like any collector."""

    def __init__(self, hub: MetricsHub, *, clock: Callable[[], float] = time.time) -> None:
        self._hub = hub
        self._clock = clock
        self._prepared: list[Metric] = []
        self._families: dict[str, _Family] = {}
        self._snapshot: tuple[list[tuple[str, SeriesMeta]], dict[str, tuple[float, float]]]
        self._snapshot = ([], {})
        self._predictions: list[PredictiveAlert] = []

    def describe(self) -> list[Metric]:
        return []  # names vary with what is pushed; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        yield from self._prepared

    def prepare(self) -> None:
        """Copy what :meth:`build` needs from the hub: call it on the loop thread."""
        self._snapshot = self._hub.snapshot()
        self._predictions = list(self._hub.predictions)

    def build(self) -> None:
        """Build the families from the last :meth:`prepare` (any thread; it only reads
        the copies and looks single keys up in the hub, which is safe under the GIL)."""
        hub = self._hub
        metas, latest = self._snapshot
        families: dict[str, _Family] = {}
        owners: dict[str, str] = {}  # sample name -> the family that writes it
        written: set[str] = set()
        counts = {"engine": 0, "push": 0, "scrape": 0}
        unexported = 0
        scores: dict[tuple[str, str], float] = {}
        for key, meta in metas:
            last = latest.get(key)
            if last is None:
                continue
            value = last[1]
            counts[meta.origin] = counts.get(meta.origin, 0) + 1
            expo = meta.exposition
            if expo is None:
                expo = meta.exposition = _exposition(meta)
            name, typ, prefix, scale, group = expo
            score = hub.score(key)
            if score is not None and score > scores.get(group, -1.0):
                scores[group] = score
            if not name:
                unexported += meta.origin != "engine"
                continue
            family = families.get(name)
            if family is None:
                sample = prefix.split("{", 1)[0]
                if owners.setdefault(sample, name) != name or owners.setdefault(name, name) != name:
                    unexported += 1  # another family already writes this sample name
                    continue
                help_ = ENGINE_EXPORTS[meta.id.name][2] if meta.origin == "engine" else None
                family = families[name] = _Family(typ, help_ or _HELP.get(meta.origin, ""), [])
            elif family.typ != typ or prefix in written:
                unexported += 1
                continue
            written.add(prefix)
            family.lines.append(f"{prefix} {value * scale!r}\n")
        self._families = families
        self._prepared = [_scores(scores), self._forecasts(), *self._series(counts, unexported)]

    def text(self, openmetrics: bool) -> bytes:
        """The per-series families prepared last, in the chosen format."""
        out: list[str] = []
        for name, family in self._families.items():
            typ = family.typ
            if typ == "unknown" and not openmetrics:
                typ = "untyped"
            if typ == "counter" and not openmetrics:
                name += "_total"  # the classic format names a counter by its sample
            out.append(f"# HELP {name} {family.help}\n# TYPE {name} {typ}\n")
            out.extend(family.lines)
        return "".join(out).encode()

    def _forecasts(self) -> Metric:
        family = Metric(
            "chimera_forecast_crossing_seconds",
            "Seconds until a metric is forecast to cross a watched threshold",
            "gauge",
        )
        now = self._clock()
        latest: dict[tuple[str, float], float] = {}
        for alert in self._predictions:
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


def _exposition(meta: SeriesMeta) -> Expo:
    """(family, type, sample line prefix, scale, score group) of a series; the family
    is empty when the series is not exported."""
    group = (meta.id.name, meta.id.label_dict().get("tool", ""))
    if meta.origin == "engine":
        mapped = ENGINE_EXPORTS.get(meta.id.name)
        if mapped is None:
            return ("", "", "", 1.0, group)
        return (mapped[0], "gauge", mapped[0] + _label_text(meta), mapped[1], group)
    sample = prometheus_name(meta.export)
    if not sample or sample.startswith(RESERVED_PREFIXES):
        return ("", "", "", 1.0, group)
    typ = _TYPES.get(meta.kind, "unknown")
    if typ == "counter" and not sample.endswith("_total"):
        typ = "unknown"
    family = sample[: -len("_total")] if typ == "counter" else sample
    return (family, typ, sample + _label_text(meta), 1.0, group)


def _label_text(meta: SeriesMeta) -> str:
    labels: dict[str, str] = {}
    for k, v in meta.id.labels:
        labels.setdefault(label_name(k), v)
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@dataclass(slots=True)
class _Family:
    typ: str
    help: str
    lines: list[str]
