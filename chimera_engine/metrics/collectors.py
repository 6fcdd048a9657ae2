"""Collectors that feed the hub: tool calls, this process and the host, Prometheus targets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from chimera_engine.events import EventBus, ToolCallCompleted
from chimera_engine.metrics.hub import MetricsHub, Sample, metric_key

log = logging.getLogger(__name__)


@dataclass
class _Window:
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    durations: list[float] = field(default_factory=list)


class ToolCallCollector:
    """Per tool, once per ``interval``: calls, error rate, latency (ms, median) and a
    confidence in [0, 1] (an exponentially weighted success rate)."""

    def __init__(
        self,
        bus: EventBus,
        hub: MetricsHub,
        *,
        interval: float = 1.0,
        alpha: float = 0.2,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self._bus = bus
        self._hub = hub
        self.interval = interval
        self.alpha = alpha
        self.thresholds = thresholds or {}
        self._window: dict[str, _Window] = defaultdict(_Window)
        self.confidence: dict[str, float] = {}
        #: Windows emitted so far (none while no tool is called).
        self.flushes = 0

    async def run(self) -> None:
        """``interval`` after a call finished: drain the calls that finished meanwhile,
        then emit samples. With no call at all it waits for one (no idle wake-ups; a
        window with no call emits nothing anyway)."""
        sub = self._bus.subscribe(ToolCallCompleted, maxsize=200_000)
        try:
            while True:
                self._count(await sub.get())
                await asyncio.sleep(self.interval)
                while (event := sub.get_nowait()) is not None:
                    self._count(event)
                self.flush()
        finally:
            sub.close()

    def _count(self, event: object) -> None:
        if isinstance(event, ToolCallCompleted):
            r = event.record
            w = self._window[r.tool]
            w.calls += 1
            w.errors += r.outcome != "ok"
            w.durations.append(r.duration_s)

    def flush(self) -> None:
        self.flushes += 1
        now = time.time()
        windows, self._window = self._window, defaultdict(_Window)
        batch: list[Sample] = []
        for tool, w in windows.items():
            labels = {"tool": tool}
            rate = w.errors / w.calls if w.calls else 0.0
            durations = sorted(w.durations)
            latency = durations[len(durations) // 2] * 1e3 if durations else 0.0
            if tool not in self.confidence:
                for metric, threshold in self.thresholds.items():
                    self._hub.set_thresholds(metric, labels, threshold)
            previous = self.confidence.get(tool, 1.0)
            confidence = (1 - self.alpha) * previous + self.alpha * (1.0 - rate)
            self.confidence[tool] = confidence
            batch += (
                Sample("tool.calls", w.calls / self.interval, labels, now),
                Sample("tool.error_rate", rate, labels, now),
                Sample("tool.latency_ms", latency, labels, now),
                Sample("tool.confidence", confidence, labels, now),
            )
        self._hub.record_many(batch)


class ProcessCollector:
    """The engine process and the host: CPU %, resident memory (MB), open files."""

    def __init__(self, hub: MetricsHub, *, interval: float = 2.0) -> None:
        self._hub = hub
        self.interval = interval

    async def run(self) -> None:
        def start() -> Any:
            import psutil  # (~0.1 s to import: on a worker thread, not the loop)

            process = psutil.Process()
            process.cpu_percent(None)
            psutil.cpu_percent(None)
            return process

        proc = await asyncio.to_thread(start)
        import psutil

        def read() -> list[tuple[str, float]]:
            # /proc reads (open_files reads a link per descriptor): ms each, so off the loop.
            values: list[tuple[str, float]] = []
            with proc.oneshot():
                values.append(("process.cpu_percent", proc.cpu_percent(None)))
                values.append(("process.rss_mb", proc.memory_info().rss / 2**20))
                with contextlib.suppress(psutil.Error):
                    values.append(("process.open_files", len(proc.open_files())))
            values.append(("host.cpu_percent", psutil.cpu_percent(None)))
            values.append(("host.memory_percent", psutil.virtual_memory().percent))
            return values

        while True:
            await asyncio.sleep(self.interval)
            now = time.time()
            values = await asyncio.to_thread(read)
            self._hub.record_many([Sample(name, value, None, now) for name, value in values])


@dataclass
class ScrapeStatus:
    url: str
    up: bool = False
    error: str = ""
    samples: int = 0
    last_at: float = 0.0


class PrometheusScraper:
    """Scrapes a Prometheus text endpoint every ``interval`` seconds into the hub.

    In the hub a sample is keyed ``scrape.<metric>`` with the target's labels and
    ``target``; ``/metrics`` exports it under its own name and type. New series
    count against the series cap as owner ``scrape:<target>``. A target that
    is down or answers garbage sets ``status.error`` and ``scrape.up{target}=0``;
    it never stops the engine.
    """

    def __init__(
        self,
        hub: MetricsHub,
        url: str,
        *,
        name: str = "",
        interval: float = 15.0,
        client: httpx.AsyncClient | None = None,
        max_samples: int = 5000,
    ) -> None:
        self._hub = hub
        self.url = url
        self.name = name or url.split("//", 1)[-1].split("/", 1)[0]
        self.interval = interval
        self._client = client
        self.max_samples = max_samples
        self.status = ScrapeStatus(url=url)

    async def scrape_once(self) -> ScrapeStatus:
        now = time.time()
        client = self._client or httpx.AsyncClient(timeout=5.0)
        try:
            response = await client.get(self.url)
            response.raise_for_status()
            count = 0
            owner = f"scrape:{self.name}"
            batch: list[Sample] = []
            for family in text_string_to_metric_families(response.text):
                kind = family.type if family.type in ("counter", "gauge") else "unknown"
                for sample in family.samples:
                    if count >= self.max_samples:
                        break
                    if kind == "counter" and not sample.name.endswith("_total"):
                        continue  # the _created timestamp of a counter
                    labels = {k: v for k, v in sample.labels.items() if k != "__name__"}
                    labels["target"] = self.name
                    name = f"scrape.{sample.name}"
                    if not self._hub.admit(metric_key(name, labels), owner, "scrape"):
                        continue
                    batch.append(Sample(name, float(sample.value), labels, now, kind, sample.name))
                    count += 1
            self._hub.record_many(batch, origin="scrape")
            self.status = ScrapeStatus(url=self.url, up=True, samples=count, last_at=now)
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            self.status = ScrapeStatus(
                url=self.url, up=False, error=f"{type(exc).__name__}: {exc}"[:300], last_at=now
            )
        finally:
            if self._client is None:
                await client.aclose()
        self._hub.record("scrape.up", 1.0 if self.status.up else 0.0, {"target": self.name}, now)
        return self.status

    async def run(self) -> None:
        """Scrape every ``interval`` seconds over one connection pool (building a client
        costs milliseconds of CPU: not once a scrape)."""
        own = self._client is None
        if own:
            self._client = httpx.AsyncClient(timeout=5.0)
        try:
            while True:
                await self.scrape_once()
                await asyncio.sleep(self.interval)
        finally:
            if own and self._client is not None:
                await self._client.aclose()
                self._client = None
