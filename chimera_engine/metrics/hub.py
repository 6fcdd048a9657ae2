"""MetricsHub: every metric sample goes through here into the anomaly engine.

Samples come from the collectors (tool calls, the process, Prometheus
scrapes) and from clients (``POST /api/metrics``). Each is scored and learned
at once (microseconds); an anomaly is persisted and published as
:class:`AnomalyDetected`; forecasts are checked on a timer and a predicted
crossing is published as :class:`FailurePredicted`. Views read series on
their own schedule (:meth:`series`): there is no event per sample.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from chimera_engine.anomaly.incidents import IncidentTracker
from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.events import (
    EventBus,
    FailurePredicted,
    PredictionWithdrawn,
)
from chimera_engine.metrics.anomaly_store import MAX_BULK as MAX_BULK
from chimera_engine.metrics.anomaly_store import AnomalyStore
from chimera_engine.metrics.anomaly_store import StoredAnomaly as StoredAnomaly
from chimera_engine.metrics.cap import SeriesCap
from chimera_engine.metrics.incidents import IncidentBook
from chimera_engine.metrics.limits import VALUE_LIMIT
from chimera_engine.metrics.names import Expo, SeriesId
from chimera_engine.metrics.settings import MetricSettings
from chimera_engine.store.db import Database

if TYPE_CHECKING:
    from chimera_engine.anomaly.engine import AnomalyDetectionEngine, AnomalyEvent, PredictiveAlert

MAX_NAME = 200
_BAD_NAME_CHARS = re.compile("[{}, \n]")


def metric_key(name: str, labels: Mapping[str, str] | None = None) -> str:
    """``name{a=1,b=2}`` with labels sorted (the metric's identity).

    >>> metric_key("tool.latency_ms", {"tool": "clean_csv"})
    'tool.latency_ms{tool=clean_csv}'
    """
    if not name or len(name) > MAX_NAME or _BAD_NAME_CHARS.search(name) is not None:
        raise ValidationError(f"invalid metric name {name!r}")
    if not labels:
        return name
    if len(labels) == 1:
        for k, v in labels.items():
            return f"{name}{{{k}={v}}}"
    inner = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
    return f"{name}{{{inner}}}"


class Sample(NamedTuple):
    """One sample for :meth:`MetricsHub.record_many` (the arguments of ``record``)."""

    name: str
    value: float
    labels: Mapping[str, str] | None = None
    t: float | None = None
    kind: str = "gauge"
    export: str = ""


@dataclass(frozen=True, kw_only=True)
class MetricInfo:
    """One watched series. ``key`` is its identity (``name{a=1}``); ``name`` and
    ``labels`` are the same identity, structured; ``origin`` is engine, push or scrape."""

    key: str
    samples: int
    state: str
    last_t: float
    last_value: float
    rejected: int
    name: str = ""
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    origin: str = "engine"


@dataclass(slots=True)
class SeriesMeta:
    """What the hub knows of a series besides its samples. ``kind`` is the
    Prometheus type the value has at its source (gauge, counter or unknown);
    ``export`` the name it has outside (a scraped series keeps its target's name);
    ``seen`` is the engine clock when the last sample arrived; ``exposition`` is
    left to the exporter (it caches how the series is written there)."""

    id: SeriesId
    origin: str
    kind: str
    export: str
    seen: float
    exposition: Expo | None = None


class MetricsHub:
    def __init__(
        self,
        bus: EventBus,
        db: Database,
        engine: AnomalyDetectionEngine | None = None,
        *,
        clock: Callable[[], float] = time.time,
        cap: SeriesCap | None = None,
        stale_s: float = 600.0,
    ) -> None:
        self._bus = bus
        self.cap = cap if cap is not None else SeriesCap(per_owner=10_000, total=20_000)
        self.stale_s = stale_s
        self._meta: dict[str, SeriesMeta] = {}
        self._db = db
        self._engine = engine
        self._clock = clock
        self._latest: dict[str, tuple[float, float]] = {}
        self.samples = 0
        self.predictions: list[PredictiveAlert] = []
        self._settings: dict[str, MetricSettings] = {}
        self.incidents = IncidentBook(bus, db, IncidentTracker())
        self.store = AnomalyStore(bus, db, clock)

    @property
    def engine(self) -> AnomalyDetectionEngine:
        """The detectors (numpy-based: imported on first use, not at start-up)."""
        if self._engine is None:
            from chimera_engine.anomaly.engine import AnomalyDetectionEngine

            self._engine = AnomalyDetectionEngine()
            for key, settings in self._settings.items():
                self._engine.configure(key, settings)
        return self._engine

    # -- input --------------------------------------------------------------------------------
    def record(
        self,
        name: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        t: float | None = None,
        *,
        origin: str = "engine",
        kind: str = "gauge",
        export: str = "",
    ) -> AnomalyEvent | None:
        """Score and learn one sample. Cheap: call it on the loop for every sample.

        Series from outside (``origin`` push or scrape) must be admitted first
        (:meth:`admit`); ``kind`` is the Prometheus type the value has at its source.
        """
        key = metric_key(name, labels)
        now = self._clock()
        when = now if t is None else t
        meta = self._meta.get(key)
        if meta is not None and meta.origin == "push" and origin != "push":
            self._forget(key)  # the engine's own series, squatted by a pusher: taken over
            meta = None
        if meta is None:
            ident = SeriesId.of(name, labels)
            self._meta[key] = SeriesMeta(ident, origin, kind, export or name, now)
        else:
            meta.seen = now
        engine = self._engine if self._engine is not None else self.engine
        value = float(value)
        event = engine.observe(key, when, value)
        self.samples += 1
        self._keep_latest(self._latest, key, when, value)
        if event is not None:
            # persisted with its incident, then published
            self.incidents.record(event, event.band)
        return event

    def record_many(self, samples: Sequence[Sample], *, origin: str = "engine") -> int:
        """Score and learn a batch (a collector's tick, a scrape, a pushed batch) in one
        pass: what :meth:`record` does for each sample, at a fraction of the cost for a
        large batch (see :meth:`AnomalyDetectionEngine.observe_many`). Returns the
        number of anomalies raised. Invalid names raise before anything is recorded."""
        keys = [metric_key(s.name, s.labels) for s in samples]
        now = self._clock()
        metas, latest = self._meta, self._latest
        ts: list[float] = []
        values: list[float] = []
        for s, key in zip(samples, keys, strict=True):
            meta = metas.get(key)
            if meta is not None and meta.origin == "push" and origin != "push":
                self._forget(key)  # squatted by a pusher: taken over, afresh
                meta = None
            if meta is None:
                ident = SeriesId.of(s.name, s.labels)
                metas[key] = SeriesMeta(ident, origin, s.kind, s.export or s.name, now)
            else:
                meta.seen = now
            when = now if s.t is None else s.t
            value = float(s.value)
            ts.append(when)
            values.append(value)
            self._keep_latest(latest, key, when, value)
        engine = self._engine if self._engine is not None else self.engine
        events = engine.observe_many(keys, ts, values)
        self.samples += len(keys)
        if events:
            self.incidents.record_many([(event, event.band) for event in events])
        return len(events)

    @staticmethod
    def _keep_latest(
        latest: dict[str, tuple[float, float]], key: str, when: float, value: float
    ) -> None:
        """The exposition's value of ``key``: the newest sample the detectors accept
        too (a late, non-finite or absurdly large one does not replace it)."""
        if -VALUE_LIMIT <= value <= VALUE_LIMIT:  # NaN fails too
            prev = latest.get(key)
            if prev is None or when >= prev[0]:
                latest[key] = (when, value)

    def origin_of(self, key: str) -> str | None:
        """Who writes series ``key``: engine, push or scrape (None when unknown)."""
        meta = self._meta.get(key)
        return None if meta is None else meta.origin

    def admit(self, key: str, owner: str, origin: str) -> bool:
        """May a sample of ``key`` from ``owner`` be recorded? False (counted) when it
        would be a new series past the owner's or the total cap."""
        return self.cap.admit(key, owner, origin)

    def expire_stale(self, now: float | None = None) -> list[str]:
        """Forget the series from outside with no sample for ``stale_s`` seconds:
        they leave the exposition, the detectors and the cap."""
        now = self._clock() if now is None else now
        gone = [
            k for k, m in self._meta.items() if m.origin != "engine" and now - m.seen > self.stale_s
        ]
        for key in gone:
            self._forget(key)
        return gone

    def _forget(self, key: str) -> None:
        self._meta.pop(key, None)
        self._latest.pop(key, None)
        self.cap.release(key)
        if self._engine is not None:
            self._engine.remove(key)

    def snapshot(self) -> tuple[list[tuple[str, SeriesMeta]], dict[str, tuple[float, float]]]:
        """Copies of the series identities and of their latest (t, value), taken on the
        loop in C-speed copies so the exposition can read them from another thread."""
        return list(self._meta.items()), self._latest.copy()

    def meta(self, key: str) -> SeriesMeta | None:
        """The structured identity and origin of ``key`` (None when unknown)."""
        return self._meta.get(key)

    def score(self, key: str) -> float | None:
        """The latest anomaly score in [0, 1] of ``key`` (None when unknown)."""
        return None if self._engine is None else self._engine.score(key)

    def set_thresholds(self, name: str, labels: Mapping[str, str] | None, *values: float) -> None:
        """Thresholds the forecasts watch for ``name{labels}`` (predicted crossings alert)."""
        self.engine.set_thresholds(metric_key(name, labels), *values)

    # -- per-metric settings ----------------------------------------------------------------
    async def load_settings(self) -> int:
        """Read the operators' per-metric settings from the store (at start-up)."""

        def q(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return list(
                conn.execute(
                    "SELECT metric, detector, sensitivity, thresholds, updated_by, updated_at "
                    "FROM metric_settings"
                )
            )

        for metric, detector, sensitivity, thresholds, by, at in await self._db.read(q):
            settings = MetricSettings(
                detector=detector,
                sensitivity=sensitivity,
                thresholds=None if thresholds is None else tuple(json.loads(thresholds)),
                updated_by=by,
                updated_at=at,
            )
            self._settings[metric] = settings
            if self._engine is not None:
                self._engine.configure(metric, settings)
        return len(self._settings)

    def settings(self, key: str) -> MetricSettings:
        """The operator settings of metric ``key`` (the defaults when none were set)."""
        return self._settings.get(key) or MetricSettings()

    async def configure(self, key: str, settings: MetricSettings) -> MetricSettings:
        """Persist and apply ``settings`` for ``key``; they survive a restart."""
        settings = replace(settings.validated(), updated_at=self._clock())
        thresholds = None if settings.thresholds is None else json.dumps(settings.thresholds)

        def upsert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO metric_settings(metric, detector, sensitivity, thresholds, "
                "updated_by, updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT(metric) DO UPDATE SET "
                "detector = excluded.detector, sensitivity = excluded.sensitivity, "
                "thresholds = excluded.thresholds, updated_by = excluded.updated_by, "
                "updated_at = excluded.updated_at",
                (
                    key,
                    settings.detector,
                    settings.sensitivity,
                    thresholds,
                    settings.updated_by,
                    settings.updated_at,
                ),
            )

        await self._db.write(upsert)
        self._settings[key] = settings
        if self._engine is not None:
            self._engine.configure(key, settings)
        return settings

    async def forecast_loop(self, interval: float = 5.0, ttl_s: float = 3600.0) -> None:
        """Check forecasts every ``interval`` seconds; forget metrics silent for ``ttl_s``;
        resolve the incidents whose subject is back to normal."""
        await self.incidents.restore()
        while True:
            await asyncio.sleep(interval)
            now = self._clock()
            await self.incidents.tick(now, self.engine)
            for alert in self.engine.check_forecasts(now):
                self.predictions = [p for p in self.predictions if p.key != alert.key]
                self.predictions.append(alert)
                del self.predictions[:-100]
                self._bus.publish(FailurePredicted(alert=alert))
            for withdrawal in self.engine.check_withdrawals(now):
                self.predictions = [p for p in self.predictions if p is not withdrawal.alert]
                self._bus.publish(
                    PredictionWithdrawn(alert=withdrawal.alert, reason=withdrawal.reason)
                )
            for gone in self.engine.expire(now, ttl_s):
                self._forget(gone)
                for p in [p for p in self.predictions if p.metric == gone]:
                    self.predictions.remove(p)
                    self._bus.publish(PredictionWithdrawn(alert=p, reason="the metric went quiet"))
            self.expire_stale(now)

    async def flush(self) -> None:
        await self.incidents.flush()

    def latest(self) -> list[tuple[str, float]]:
        return [(k, v) for k, (_, v) in self._latest.items()]

    # -- reading --------------------------------------------------------------------------------
    def metrics(self) -> list[MetricInfo]:
        out: list[MetricInfo] = []
        for key in sorted(self.engine.metrics()):
            status = self.engine.status(key)
            if status is None:
                continue
            t, value = self._latest.get(key, (status.last_t, math.nan))
            meta = self._meta.get(key)
            out.append(
                MetricInfo(
                    key=key,
                    samples=status.samples,
                    state=status.state,
                    last_t=t,
                    last_value=value,
                    rejected=status.nonfinite + status.out_of_order,
                    name=meta.id.name if meta else key,
                    labels=meta.id.label_dict() if meta else {},
                    origin=meta.origin if meta else "engine",
                )
            )
        return out

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """Timestamps and values in the metric's ring buffer, oldest first."""
        buffer = self.engine.buffer(key)
        if buffer is None:
            raise NotFoundError(f"no metric {key!r}")
        return buffer.timestamps().tolist(), buffer.values().tolist()

    # -- stored anomalies -------------------------------------------------------------------
    async def anomalies(
        self, *, since: float = 0.0, metric: str = "", limit: int = 200
    ) -> list[StoredAnomaly]:
        return await self.store.anomalies(since=since, metric=metric, limit=limit)

    async def acknowledge(self, anomaly_id: int, actor: str) -> StoredAnomaly:
        return await self.store.acknowledge(anomaly_id, actor)

    async def acknowledge_many(self, ids: Sequence[int] | None, actor: str) -> list[StoredAnomaly]:
        return await self.store.acknowledge_many(ids, actor)
