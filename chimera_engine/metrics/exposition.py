"""Exposition: everything ``GET /metrics`` serves, and how one scrape is made.

A scrape reads the stores (their reader threads) and the hub (on the loop,
where the hub lives), then encodes the registry in an executor: the families
built on the loop are not touched again, and the event-driven ones lock
themselves. The per-series families of the hub are appended as text whose line
prefixes are cached per series, so tens of thousands of pushed series cost a
few milliseconds on the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from chimera_engine.events import EventBus
from chimera_engine.metrics.exporter import EngineMetrics
from chimera_engine.metrics.families import HubFamilies
from chimera_engine.metrics.feeder import MetricsFeeder
from chimera_engine.metrics.hub import MetricsHub
from chimera_engine.metrics.names import SeriesId
from chimera_engine.metrics.snapshot import EngineSnapshot
from chimera_engine.store.db import Database

if TYPE_CHECKING:
    from chimera_engine.swarm.coordinator import SwarmCoordinator


EOF = b"# EOF\n"


class Exposition:
    def __init__(
        self,
        metrics: EngineMetrics,
        bus: EventBus,
        hub: MetricsHub,
        db: Database,
        *,
        workspace: Callable[[], str | None],
        swarm: Callable[[], SwarmCoordinator | None],
    ) -> None:
        self.metrics = metrics
        self.families = HubFamilies(hub)
        self.snapshot = EngineSnapshot(db, workspace=workspace, swarm=swarm)
        metrics.registry.register(self.families)
        metrics.registry.register(self.snapshot)
        self.feeder = MetricsFeeder(bus, metrics, identify=lambda key: _ident(hub, key))
        self._lock = asyncio.Lock()

    async def scrape(self, accept: str = "") -> tuple[bytes, str]:
        """The body and content type for one scrape (``accept``: the request's header).

        Concurrent scrapes are served one after the other (each sees a whole state).
        """
        async with self._lock:
            await self.snapshot.refresh()
            self.families.prepare()
            return await asyncio.get_running_loop().run_in_executor(None, self._render, accept)

    def _render(self, accept: str) -> tuple[bytes, str]:
        self.families.build()
        body, content_type = self.metrics.render(accept)
        openmetrics = content_type.startswith("application/openmetrics-text")
        series = self.families.text(openmetrics)
        if openmetrics and body.endswith(EOF):
            return body[: -len(EOF)] + series + EOF, content_type
        return body + series, content_type


def _ident(hub: MetricsHub, key: str) -> SeriesId | None:
    meta = hub.meta(key)
    return None if meta is None else meta.id
