"""Scrape cost of ``GET /metrics`` with many series, and the engine's memory under a series
flood held at the push cap.

Run: ``.venv/bin/python benchmarks/bench_metrics_export.py`` (``--no-flood`` for the
scrape figures alone; ``CHIMERA_SECTION__KEY=value`` arguments override settings). One
engine serves from this process on loopback. It is fed 1,000 tools (one finished call
each, through the event bus as the runtime publishes them) and 10,000 distinct pushed
series (two pushes of 5,000), then scraped 7 times; the median scrape time and the body
size are printed, for the Prometheus text format and for OpenMetrics.

The flood part pushes batches of fresh series names as fast as one client can for
``FLOOD_SECONDS`` and prints the resident memory before and after, with how many series
were refused by the cap. The flood comes from a second principal (the first already
holds 10,000 series), so it fills the total cap, then is refused.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _startup import engine_with_admin
from _util import report

from chimera_engine.events import ToolCallCompleted
from chimera_engine.modules.models import CallRecord
from chimera_engine.node import HeartNode

TOOLS = 1_000
PUSHED = 10_000
FLOOD_SECONDS = 12.0
ENV = {
    "CHIMERA_API__PORT": "0",
    "CHIMERA_DEMO__ENABLED": "false",
    "CHIMERA_TOOLS__WATCH": "false",
    "CHIMERA_METRICS__TOOL_INTERVAL": "0.2",
    "CHIMERA_RATELIMIT__WRITE_PER_MINUTE": "100000",
}


async def ticker(lags: list[float]) -> None:
    """How late a 5 ms timer fires while the scrapes run (the loop's responsiveness)."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(0.005)
        lags.append(loop.time() - start - 0.005)


async def scrape_figures(client: httpx.AsyncClient, headers: dict[str, str], label: str) -> None:
    times: list[float] = []
    size = 0
    for _ in range(7):
        start = time.perf_counter()
        r = await client.get("/metrics", headers=headers)
        times.append(time.perf_counter() - start)
        assert r.status_code == 200, r.text[:200]
        size = len(r.content)
    lines = r.text.count("\n")
    report(f"scrape {label}: median time over HTTP", statistics.median(times) * 1e3, "ms")
    report(f"scrape {label}: body size", size / 1024, "KiB")
    report(f"scrape {label}: lines", lines, "lines")


async def loop_figures(node: HeartNode) -> None:
    """The loop's share of a scrape: a 5 ms timer's worst lateness while the engine
    builds 7 scrapes with no client in this process, against 2 s with none."""
    exposition = getattr(node, "exposition", None)
    if exposition is None:
        return  # an engine that renders on the loop has no separate figure
    lags: list[float] = []
    tick = asyncio.ensure_future(ticker(lags))
    await asyncio.sleep(2.0)
    idle = sorted(lags)
    lags.clear()
    for _ in range(7):
        await exposition.scrape()
    busy = sorted(lags)
    tick.cancel()
    for name, values in (("idle", idle), ("during scrapes", busy)):
        report(f"loop lag {name}: median", statistics.median(values) * 1e3, "ms")
        report(f"loop lag {name}: worst", values[-1] * 1e3, "ms")


async def main() -> None:
    extra = dict(arg.split("=", 1) for arg in sys.argv[1:] if "=" in arg)
    with tempfile.TemporaryDirectory() as tmp:
        async with engine_with_admin(Path(tmp), env={**ENV, **extra}) as (node, admin):
            assert node.api is not None
            now = time.time()
            for i in range(TOOLS):
                record = CallRecord(
                    tool=f"tool_{i:04d}",
                    module=f"mod_{i:04d}",
                    version=1,
                    started_at=now,
                    duration_s=0.001 * (i % 50 + 1),
                    outcome="ok" if i % 10 else "error",
                )
                node.bus.publish(ToolCallCompleted(record=record))
            for batch in range(PUSHED // 5000):
                samples = [
                    {
                        "name": "pushed.value",
                        "value": float(j),
                        "labels": {"i": str(batch * 5000 + j)},
                    }
                    for j in range(5000)
                ]
                result = await node.facade.metrics.push_metrics(admin.principal, samples)
                print(f"push {batch}: {result}")
            await asyncio.sleep(1.0)
            headers = {"Authorization": f"Bearer {admin.tokens.access_token}"}
            async with httpx.AsyncClient(base_url=node.api.url, timeout=60) as client:
                await scrape_figures(client, headers, "text 0.0.4")
                om = {**headers, "Accept": "application/openmetrics-text; version=1.0.0"}
                await scrape_figures(client, om, "openmetrics")
                await loop_figures(node)
                if "--no-flood" in sys.argv:
                    return
                await node.facade.admin.create_user(
                    admin.principal, "flooder", "correct horse battery", "operator"
                )
                flooder = await node.facade.sessions.login("flooder", "correct horse battery")
                await flood(node, flooder.principal)


async def flood(node: HeartNode, principal: object) -> None:
    proc = psutil.Process(os.getpid())
    rss0 = proc.memory_info().rss
    deadline = time.perf_counter() + FLOOD_SECONDS
    pushed = refused = n = 0
    while time.perf_counter() < deadline:
        samples = [
            {"name": "flood.value", "value": 1.0, "labels": {"i": str(n + j)}} for j in range(2000)
        ]
        n += 2000
        result = await node.facade.metrics.push_metrics(principal, samples)  # type: ignore[arg-type]
        pushed += 2000
        refused += int(getattr(result, "refused", 0))
        await asyncio.sleep(0)
    rss1 = proc.memory_info().rss
    report("flood: distinct series pushed", pushed, "series")
    report("flood: series refused by the cap", refused, "series")
    report("flood: RSS before", rss0 / 2**20, "MiB")
    report("flood: RSS after", rss1 / 2**20, "MiB")


if __name__ == "__main__":
    asyncio.run(main())
