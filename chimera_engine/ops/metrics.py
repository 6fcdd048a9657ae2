"""Operations on metrics and anomalies: push, browse, acknowledge, predict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.metrics.hub import MetricInfo, StoredAnomaly, metric_key
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    from chimera_engine.anomaly.forecast import Crossing
    from chimera_engine.node import HeartNode

MAX_BATCH = 5000


@dataclass(frozen=True, kw_only=True)
class PushResult:
    accepted: int
    anomalies: int


class MetricOps:
    _node: HeartNode

    async def push_metrics(
        self, principal: Principal, samples: Iterable[Mapping[str, Any]]
    ) -> PushResult:
        """Record a batch of ``{"name", "value", "labels"?, "t"?}`` samples."""
        await self._node.security.authorize(principal, Permission.METRICS_PUSH)
        batch = list(samples)
        if len(batch) > MAX_BATCH:
            raise ValidationError(f"at most {MAX_BATCH} samples per batch")
        parsed: list[tuple[str, float, dict[str, str], float | None]] = []
        for i, s in enumerate(batch):  # check the whole batch first: all or nothing
            try:
                name = str(s["name"])
                metric_key(name)
                labels = {str(k): str(v) for k, v in (s.get("labels") or {}).items()}
                t = float(s["t"]) if s.get("t") is not None else None
                parsed.append((name, float(s["value"]), labels, t))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ValidationError(f"sample {i}: {exc}") from None
        hub = self._node.hub
        anomalies = sum(hub.record(*sample) is not None for sample in parsed)
        return PushResult(accepted=len(batch), anomalies=anomalies)

    async def list_metrics(self, principal: Principal) -> list[MetricInfo]:
        await self._node.security.authorize(principal, Permission.METRICS_READ)
        return self._node.hub.metrics()

    async def metric_series(
        self, principal: Principal, key: str
    ) -> tuple[list[float], list[float]]:
        await self._node.security.authorize(principal, Permission.METRICS_READ)
        return self._node.hub.series(key)

    async def list_anomalies(
        self, principal: Principal, *, since: float = 0.0, metric: str = "", limit: int = 200
    ) -> list[StoredAnomaly]:
        await self._node.security.authorize(principal, Permission.ANOMALY_READ)
        return await self._node.hub.anomalies(since=since, metric=metric, limit=limit)

    async def acknowledge_anomaly(self, principal: Principal, anomaly_id: int) -> StoredAnomaly:
        security = self._node.security
        await security.authorize(principal, Permission.ANOMALY_ACKNOWLEDGE, f"anomaly:{anomaly_id}")
        anomaly = await self._node.hub.acknowledge(anomaly_id, principal.actor)
        await security.audit.record(
            principal,
            "anomaly.acknowledge",
            target=f"anomaly:{anomaly_id}",
            metric=anomaly.metric,
            kind=anomaly.kind,
            score=round(anomaly.score, 3),
        )
        return anomaly

    async def predict_crossing(
        self, principal: Principal, metric: str, threshold: float
    ) -> Crossing | None:
        """When ``metric`` is forecast to cross ``threshold`` (None: not within the horizon)."""
        await self._node.security.authorize(principal, Permission.ANOMALY_READ)
        if self._node.hub.engine.buffer(metric) is None:
            raise NotFoundError(f"no metric {metric!r}")
        return self._node.hub.engine.predict_crossing(metric, threshold)
