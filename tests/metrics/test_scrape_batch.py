"""A real exposition (written by ``prometheus_client``, served by aiohttp on loopback)
of many series: one scrape is one batch, scored in the engine's bank, and a spike in
one series among a hundred is found."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import numpy as np
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from chimera_engine.events import AnomalyDetected, EventBus
from chimera_engine.metrics.collectors import PrometheusScraper
from chimera_engine.metrics.hub import MetricsHub
from chimera_engine.store.db import Database


@contextlib.asynccontextmanager
async def hub_and_target(
    tmp_path: Path, handler: Callable[[web.Request], Awaitable[web.Response]], bus: EventBus
) -> AsyncIterator[tuple[MetricsHub, str]]:
    """A hub on SQLite, and ``handler`` at ``/metrics`` of a real aiohttp server on
    loopback: yields the hub and the target's URL."""
    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    db = Database(tmp_path / "m.db")
    await db.open()
    try:
        yield MetricsHub(bus, db), f"http://127.0.0.1:{port}/metrics"
    finally:
        await db.close()
        await runner.cleanup()


async def test_a_scrape_of_a_hundred_series_is_one_banked_batch(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    queue = Gauge("queue_depth", "Jobs waiting", ["shard"], registry=registry)
    rng = np.random.default_rng(3)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    bus = EventBus()
    sub = bus.subscribe(AnomalyDetected)
    async with (
        hub_and_target(tmp_path, metrics, bus) as (hub, url),
        httpx.AsyncClient(timeout=5.0) as client,  # one connection for every scrape
    ):
        scraper = PrometheusScraper(hub, url, name="svc", client=client)
        for i in range(300):
            for shard in range(100):
                value = 50.0 + shard + float(rng.normal(0.0, 0.05))
                if i == 290 and shard == 7:
                    value += 400.0  # shard 7 backs up
                queue.labels(shard=str(shard)).set(value)
            status = await scraper.scrape_once()
            assert status.up and status.samples == 100, status.error
            await asyncio.sleep(0.002)  # distinct scrape times
        await hub.flush()
        key = "scrape.queue_depth{shard=7,target=svc}"
        assert hub.engine.banked(key)
        st = hub.engine.status(key)
        assert st is not None and st.samples == 300
        stored = await hub.anomalies(limit=100)
        assert [a.metric for a in stored] == [key]
        found = [sub.get_nowait() for _ in range(len(sub))]
        assert [e.event.metric for e in found if isinstance(e, AnomalyDetected)] == [key]


async def test_the_scrape_loop_keeps_one_client_and_closes_it(tmp_path: Path) -> None:
    seen: set[int] = set()

    async def metrics(request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        seen.add(transport.get_extra_info("peername")[1])  # the client's port
        return web.Response(text="# TYPE up_total counter\nup_total 1\n")

    async with hub_and_target(tmp_path, metrics, EventBus()) as (hub, url):
        scraper = PrometheusScraper(hub, url, interval=0.01)
        task = asyncio.create_task(scraper.run())
        for _ in range(500):
            await asyncio.sleep(0.01)
            if hub.samples >= 10:
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert scraper.status.up and hub.samples >= 10
        assert len(seen) == 1  # every scrape over the same connection
        assert scraper._client is None  # closed with the loop
