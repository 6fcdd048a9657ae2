"""The collectors an engine starts when ``metrics.enabled``: tool calls, the process,
forecasts and any Prometheus endpoints to scrape."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from typing import Any

from chimera_engine.config import MetricsSettings
from chimera_engine.events import EventBus
from chimera_engine.metrics.collectors import (
    ProcessCollector,
    PrometheusScraper,
    ToolCallCollector,
)
from chimera_engine.metrics.hub import MetricsHub

Spawn = Callable[[Coroutine[Any, Any, Any], str], object]


async def warm_up_detectors() -> None:
    """The detectors need numpy: import them in a thread once start-up is over,
    so neither the first window nor the loop waits for it."""
    await asyncio.sleep(2.0)
    await asyncio.to_thread(importlib.import_module, "chimera_engine.anomaly.engine")


def start_collectors(
    m: MetricsSettings, bus: EventBus, hub: MetricsHub, spawn: Spawn
) -> tuple[ToolCallCollector, list[PrometheusScraper]]:
    """Spawn the collectors; returns the tool-call collector and the scrapers."""
    spawn(warm_up_detectors(), "warm-up-detectors")
    tools = ToolCallCollector(
        bus,
        hub,
        interval=m.tool_interval,
        thresholds={
            "tool.confidence": m.confidence_threshold,
            "tool.latency_ms": m.latency_threshold_ms,
        },
    )
    spawn(tools.run(), "collect-tool-calls")
    spawn(ProcessCollector(hub, interval=m.process_interval).run(), "collect-process")
    spawn(hub.forecast_loop(m.forecast_interval), "forecasts")
    scrapers = []
    for url in filter(None, (u.strip() for u in m.scrape_urls.split(","))):
        scraper = PrometheusScraper(hub, url, interval=m.scrape_interval)
        scrapers.append(scraper)
        spawn(scraper.run(), f"scrape-{scraper.name}")
    return tools, scrapers
