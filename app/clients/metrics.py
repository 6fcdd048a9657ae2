"""The Dashboard's client: push, browse, list and acknowledge anomalies, predict.

Every method goes through the authorised facade as the signed-in user, so each
one is permission-checked (and, for acknowledgements, audited) by the engine.
Live chart data is not read through the facade: the dashboard reads the ring
buffers through :attr:`MetricsClient.live`, a read-only view, on the loop thread at
its own redraw rate (see :mod:`app.shared.metric_source`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from app.clients import CurrentPrincipal
from chimera_engine.facade import EngineFacade
from chimera_engine.metrics.hub import MetricInfo, StoredAnomaly
from chimera_engine.metrics.live import LiveMetrics
from chimera_engine.metrics.service import PushResult
from chimera_engine.metrics.settings import MetricSettings

if TYPE_CHECKING:  # numpy-based: not imported at start-up
    from chimera_engine.anomaly.forecast import Crossing


class MetricsClient:
    def __init__(
        self, facade: EngineFacade, principal: CurrentPrincipal, live: LiveMetrics
    ) -> None:
        self._facade = facade
        self._principal = principal
        #: Read-only view of the ring buffers, for the charts (see the module documentation).
        self.live = live

    async def push_metrics(self, samples: Iterable[Mapping[str, Any]]) -> PushResult:
        """Record ``{"name", "value", "labels"?, "t"?}`` samples (all or nothing)."""
        return await self._facade.metrics.push_metrics(self._principal(), samples)

    async def list_metrics(self) -> list[MetricInfo]:
        return await self._facade.metrics.list_metrics(self._principal())

    async def metric_series(self, key: str) -> tuple[list[float], list[float]]:
        """Timestamps and values of ``key``'s ring buffer, oldest first."""
        return await self._facade.metrics.metric_series(self._principal(), key)

    async def list_anomalies(
        self, *, since: float = 0.0, metric: str = "", limit: int = 200
    ) -> list[StoredAnomaly]:
        """Persisted anomalies, newest first."""
        return await self._facade.metrics.list_anomalies(
            self._principal(), since=since, metric=metric, limit=limit
        )

    async def acknowledge_anomaly(self, anomaly_id: int) -> StoredAnomaly:
        """Acknowledge one anomaly as the signed-in user (needs ``anomaly.acknowledge``)."""
        return await self._facade.metrics.acknowledge_anomaly(self._principal(), anomaly_id)

    async def acknowledge_anomalies(self, ids: list[int] | None = None) -> list[StoredAnomaly]:
        """Acknowledge the open anomalies among ``ids`` (None: every open one) at once."""
        return await self._facade.metrics.acknowledge_anomalies(self._principal(), ids)

    async def close_all_open(self) -> tuple[int, int]:
        """Close every open incident (acknowledging its anomalies), then acknowledge any
        open anomaly that belongs to none; returns (incidents closed, anomalies left over
        acknowledged). Each step is one request and one audit entry."""
        closed = await self._facade.metrics.close_incidents(self._principal())
        rest = await self._facade.metrics.acknowledge_anomalies(self._principal())
        return len(closed), len(rest)

    async def predict_crossing(self, metric: str, threshold: float) -> Crossing | None:
        """When ``metric`` is forecast to cross ``threshold`` (None: not within the horizon)."""
        return await self._facade.metrics.predict_crossing(self._principal(), metric, threshold)

    async def metric_settings(self, key: str) -> MetricSettings:
        """Detector, sensitivity and thresholds of ``key`` (the defaults if never set)."""
        return await self._facade.metrics.metric_settings(self._principal(), key)

    async def configure_metric(
        self,
        key: str,
        *,
        detector: str | None = None,
        sensitivity: float | None = None,
        thresholds: list[float] | None = None,
        default_thresholds: bool = False,
    ) -> MetricSettings:
        """Change ``key``'s detector, sensitivity or thresholds (``metrics.configure``,
        audited); ``default_thresholds`` goes back to the collector's thresholds."""
        if default_thresholds:
            return await self._facade.metrics.configure_metric(
                self._principal(), key, detector=detector, sensitivity=sensitivity, thresholds=None
            )
        if thresholds is None:
            return await self._facade.metrics.configure_metric(
                self._principal(), key, detector=detector, sensitivity=sensitivity
            )
        return await self._facade.metrics.configure_metric(
            self._principal(),
            key,
            detector=detector,
            sensitivity=sensitivity,
            thresholds=thresholds,
        )
