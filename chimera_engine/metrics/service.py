"""MetricsService: metrics and anomalies: push, browse, acknowledge, predict."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.metrics.hub import (
    MAX_NAME,
    MetricInfo,
    MetricsHub,
    Sample,
    StoredAnomaly,
    metric_key,
)
from chimera_engine.metrics.incidents import StoredIncident
from chimera_engine.metrics.settings import MetricSettings
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    from chimera_engine.anomaly.forecast import Crossing

MAX_BATCH = 5000
#: A pushed sample may be stamped at most this far ahead of the server's clock: a later
#: time would make every honest sample of its series after it look out of order.
MAX_AHEAD_S = 600.0
_UNSET: Any = object()


@dataclass(frozen=True, kw_only=True)
class PushResult:
    """``accepted`` samples were recorded; ``refused`` were not because they would
    have made new series past the series cap (``refused_series`` distinct ones);
    ``message`` then says which limit cut the push."""

    accepted: int
    anomalies: int
    refused: int = 0
    refused_series: int = 0
    message: str = ""


#: Scraped series are named ``scrape.<name>`` by the hub: never pushed.
SCRAPE_PREFIX = "scrape."


def pushable(name: str, origin: str | None) -> bool:
    """May a client push a sample of series ``name`` whose current origin is ``origin``
    (None: a new series)? Not into a series the engine or a scrape target writes."""
    return not name.startswith(SCRAPE_PREFIX) and origin in (None, "push")


class MetricsService:
    """Needs the metrics hub and the guard."""

    def __init__(self, guard: Guard, hub: MetricsHub) -> None:
        self._guard = guard
        self._hub = hub

    async def push_metrics(
        self, principal: Principal, samples: Iterable[Mapping[str, Any]]
    ) -> PushResult:
        """Record a batch of ``{"name", "value", "labels"?, "t"?}`` samples; a time more
        than :data:`MAX_AHEAD_S` ahead of the server's clock refuses the batch."""
        await self._guard.allow(principal, Permission.METRICS_PUSH)
        batch = list(samples)
        if len(batch) > MAX_BATCH:
            raise ValidationError(f"at most {MAX_BATCH} samples per batch")
        parsed: list[tuple[str, float, dict[str, str], float | None]] = []
        latest = time.time() + MAX_AHEAD_S
        for i, s in enumerate(batch):  # check the whole batch first: all or nothing
            try:
                name = str(s["name"])
                metric_key(name)
                labels = {str(k): str(v) for k, v in (s.get("labels") or {}).items()}
                t = float(s["t"]) if s.get("t") is not None else None
                parsed.append((name, float(s["value"]), labels, t))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ValidationError(f"sample {i}: {exc}") from None
            if t is not None and t > latest:
                raise ValidationError(
                    f"sample {i}: t is {t - latest + MAX_AHEAD_S:.0f} s ahead of the "
                    f"server's clock (at most {MAX_AHEAD_S:g} s)"
                )
        hub = self._hub
        owner = principal.actor
        refused_keys: set[str] = set()
        foreign: set[str] = set()  # series the engine or a scrape target writes
        refused = 0
        admitted: list[Sample] = []
        for name, value, labels, t in parsed:
            key = metric_key(name, labels)
            if key in foreign or not pushable(name, hub.origin_of(key)):
                foreign.add(key)
                refused += 1
                continue
            if key in refused_keys or not hub.admit(key, owner, "push"):
                refused_keys.add(key)
                refused += 1
                continue
            admitted.append(Sample(name, value, labels, t))
        anomalies = hub.record_many(admitted, origin="push")
        notes: list[str] = []
        if foreign:
            notes.append(
                f"{len(foreign)} series refused: they belong to the engine or to a scrape "
                f"target (names starting with {SCRAPE_PREFIX!r} and the engine's own "
                "series cannot be pushed; add a label to push beside them)"
            )
        if refused_keys:
            cap = hub.cap
            notes.append(
                f"push cut: {len(refused_keys)} new series refused; the series cap is "
                f"{cap.per_owner} per principal ({owner} holds {cap.held_by(owner)}) and "
                f"{cap.total} in total ({len(cap)} held); series with no sample for "
                f"{hub.stale_s:g} s are expired"
            )
        message = "; ".join(notes)
        return PushResult(
            accepted=len(parsed) - refused,
            anomalies=anomalies,
            refused=refused,
            refused_series=len(refused_keys) + len(foreign),
            message=message,
        )

    async def list_metrics(self, principal: Principal) -> list[MetricInfo]:
        await self._guard.allow(principal, Permission.METRICS_READ)
        return self._hub.metrics()

    async def metric_series(
        self, principal: Principal, key: str
    ) -> tuple[list[float], list[float]]:
        await self._guard.allow(principal, Permission.METRICS_READ)
        return self._hub.series(key)

    async def list_anomalies(
        self, principal: Principal, *, since: float = 0.0, metric: str = "", limit: int = 200
    ) -> list[StoredAnomaly]:
        await self._guard.allow(principal, Permission.ANOMALY_READ)
        return await self._hub.anomalies(since=since, metric=metric, limit=limit)

    async def acknowledge_anomaly(self, principal: Principal, anomaly_id: int) -> StoredAnomaly:
        await self._guard.allow(principal, Permission.ANOMALY_ACKNOWLEDGE, f"anomaly:{anomaly_id}")
        anomaly = await self._hub.acknowledge(anomaly_id, principal.actor)
        await self._guard.record(
            principal,
            "anomaly.acknowledge",
            target=f"anomaly:{anomaly_id}",
            metric=anomaly.metric,
            kind=anomaly.kind,
            score=round(anomaly.score, 3),
        )
        return anomaly

    async def acknowledge_anomalies(
        self, principal: Principal, ids: Sequence[int] | None = None
    ) -> list[StoredAnomaly]:
        """Acknowledge the open anomalies among ``ids`` (None: every open one) in one
        transaction; one audit entry names how many and which. Returns those acknowledged
        by this call."""
        await self._guard.allow(principal, Permission.ANOMALY_ACKNOWLEDGE, "anomaly:*")
        _check_ids(ids)
        done = await self._hub.acknowledge_many(ids, principal.actor)
        await self._guard.record(
            principal,
            "anomaly.acknowledge_bulk",
            target="anomaly:*" if ids is None else f"anomalies:{len(ids)}",
            count=len(done),
            ids=[a.id for a in done[:200]],
        )
        return done

    async def list_incidents(
        self, principal: Principal, *, open_only: bool = False, limit: int = 200
    ) -> list[StoredIncident]:
        """Incidents (one per episode of a tool, agent or metric), newest first."""
        await self._guard.allow(principal, Permission.ANOMALY_READ)
        return await self._hub.incidents.list(open_only=open_only, limit=max(1, limit))

    async def close_incidents(
        self, principal: Principal, ids: Sequence[int] | None = None
    ) -> list[StoredIncident]:
        """Close the open incidents among ``ids`` (None: every open one) and acknowledge
        their anomalies, as ``principal``; one audit entry. Returns those closed."""
        await self._guard.allow(principal, Permission.ANOMALY_ACKNOWLEDGE, "incident:*")
        _check_ids(ids)
        hub = self._hub
        closed = await hub.incidents.close(ids, principal.actor, time.time(), hub.engine)
        await self._guard.record(
            principal,
            "incident.close",
            target="incident:*" if ids is None else f"incidents:{len(ids)}",
            count=len(closed),
            ids=[i.id for i in closed[:200]],
        )
        return closed

    async def predict_crossing(
        self, principal: Principal, metric: str, threshold: float
    ) -> Crossing | None:
        """When ``metric`` is forecast to cross ``threshold`` (None: not within the horizon)."""
        await self._guard.allow(principal, Permission.ANOMALY_READ)
        if self._hub.engine.buffer(metric) is None:
            raise NotFoundError(f"no metric {metric!r}")
        return self._hub.engine.predict_crossing(metric, threshold)

    async def metric_settings(self, principal: Principal, key: str) -> MetricSettings:
        """Detector, sensitivity and thresholds of metric ``key`` (defaults if never set)."""
        await self._guard.allow(principal, Permission.METRICS_READ)
        return self._hub.settings(key)

    async def configure_metric(
        self,
        principal: Principal,
        key: str,
        *,
        detector: str | None = None,
        sensitivity: float | None = None,
        thresholds: Iterable[float] | None = _UNSET,
    ) -> MetricSettings:
        """Change what drives ``key``'s alerts; arguments left out keep their value
        (``thresholds=None`` goes back to the defaults). Persisted and audited."""
        await self._guard.allow(principal, Permission.METRICS_CONFIGURE, f"metric:{key}")
        if not key or len(key) > 2 * MAX_NAME:
            raise ValidationError(f"invalid metric key {key!r}")
        hub = self._hub
        old = hub.settings(key)
        try:
            new_thresholds = (
                old.thresholds
                if thresholds is _UNSET
                else None
                if thresholds is None
                else tuple(float(t) for t in thresholds)
            )
            wanted = MetricSettings(
                detector=old.detector if detector is None else str(detector),
                sensitivity=old.sensitivity if sensitivity is None else float(sensitivity),
                thresholds=new_thresholds,
                updated_by=principal.actor,
            ).validated()
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                raise
            raise ValidationError(str(exc)) from None
        settings = await hub.configure(key, wanted)
        await self._guard.record(
            principal,
            "metric.configure",
            target=f"metric:{key}",
            detector=settings.detector,
            sensitivity=settings.sensitivity,
            thresholds=list(settings.thresholds) if settings.thresholds is not None else None,
        )
        return settings


def _check_ids(ids: Sequence[int] | None) -> None:
    """Refuse ids that are not row ids (None: every open one)."""
    if ids is not None and not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids
    ):
        raise ValidationError("ids must be anomaly ids (integers from 1 to 2^63 - 1)")
