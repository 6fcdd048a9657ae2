"""LiveMetrics: the read-only view of the ring buffers an embedding console draws from."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chimera_engine.events import EventBus
from chimera_engine.metrics.hub import MetricsHub
from chimera_engine.metrics.live import LiveMetrics, Revision
from chimera_engine.store.db import Database


@pytest.fixture
def hub(tmp_path: Path) -> MetricsHub:
    return MetricsHub(EventBus(), Database(tmp_path / "m.db"))


def test_an_unknown_metric_reads_as_nothing(hub: MetricsHub) -> None:
    live = LiveMetrics(hub)
    assert live.metrics() == []
    assert not live.exists("nope")
    assert live.revision("nope") is None
    assert live.span("nope") is None
    assert live.window("nope", 0.0) is None
    assert live.latest("nope", 10) is None
    assert live.thresholds("nope") == []
    assert live.predictions() == []


def test_it_reads_what_the_hub_recorded(hub: MetricsHub) -> None:
    live = LiveMetrics(hub)
    now = time.time()
    for i in range(20):
        hub.record("queue.depth", float(i), None, now - 20 + i)
    assert [m.key for m in live.metrics()] == ["queue.depth"]
    assert live.exists("queue.depth")
    assert live.revision("queue.depth") == Revision(20, now - 1)
    assert live.span("queue.depth") == (now - 20, now - 1)
    window = live.window("queue.depth", now - 5)
    assert window is not None
    assert np.allclose(window[1], [15.0, 16.0, 17.0, 18.0, 19.0])
    latest = live.latest("queue.depth", 3)
    assert latest is not None and list(latest[1]) == [17.0, 18.0, 19.0]
    assert live.alert_threshold == hub.engine.config.alert_threshold

    # A new sample is a new revision (the dashboard redraws only then).
    hub.record("queue.depth", 99.0, None, now)
    assert live.revision("queue.depth") == Revision(21, now)


def test_what_it_hands_out_cannot_change_the_engine(hub: MetricsHub) -> None:
    live = LiveMetrics(hub)
    hub.record("queue.depth", 1.0, None, time.time())
    live.predictions().append(object())  # type: ignore[arg-type]
    assert hub.predictions == []
    assert not any(hasattr(live, name) for name in ("record", "configure", "set_thresholds"))


def test_importing_it_loads_no_numpy() -> None:
    """The console builds the view at start-up, before the sign-in dialog shows."""
    code = "import sys, chimera_engine.metrics.live; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_the_tool_call_collector_sleeps_until_a_call(hub: MetricsHub) -> None:
    """No call, no window: the collector waits for one instead of waking every interval;
    a call is counted in a window that closes one interval later."""
    import asyncio

    from chimera_engine.events import ToolCallCompleted
    from chimera_engine.metrics.collectors import ToolCallCollector
    from chimera_engine.modules.models import CallRecord

    bus = EventBus()
    collector = ToolCallCollector(bus, hub, interval=0.05)
    task = asyncio.ensure_future(collector.run())
    try:
        await asyncio.sleep(0.3)  # six intervals without a call
        assert collector.flushes == 0 and hub.metrics() == []
        for outcome in ("ok", "error"):
            record = CallRecord(
                tool="parse",
                module="logs",
                version=1,
                started_at=time.time(),
                duration_s=0.004,
                outcome=outcome,
            )
            bus.publish(ToolCallCompleted(record=record))
        await asyncio.sleep(0.3)
        assert collector.flushes == 1
        values = {m.key: m.last_value for m in hub.metrics()}
        assert values["tool.error_rate{tool=parse}"] == 0.5
        assert values["tool.calls{tool=parse}"] == pytest.approx(2 / 0.05)
        assert values["tool.latency_ms{tool=parse}"] == pytest.approx(4.0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
