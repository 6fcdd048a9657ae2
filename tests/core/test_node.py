"""HeartNode: lifecycle, owned tasks, health snapshot, loop lag."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chimera_engine.events import EngineStateChanged, LoopLagSampled, ServiceFailed
from chimera_engine.node import HeartNode
from chimera_engine.store.migrations import MIGRATIONS
from tests.conftest import make_settings


async def test_start_stop_cancels_owned_tasks(tmp_path: Path) -> None:
    node = HeartNode(make_settings(tmp_path))
    states = node.bus.subscribe(EngineStateChanged)
    await node.start()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    task = node.spawn(forever(), name="forever")
    await asyncio.sleep(0)  # let it start
    assert task in node._tasks and node.status().tasks >= 2  # the services' tasks + ours
    seen = [(await states.get()).state for _ in range(2)]
    assert seen == ["starting", "running"]
    await node.stop()
    assert task.cancelled()
    assert cancelled.is_set()
    assert node.state == "stopped"
    assert node.status().tasks == 0
    await node.stop()  # idempotent


async def test_failed_service_is_reported(tmp_path: Path) -> None:
    async with HeartNode(make_settings(tmp_path)) as node:
        failures = node.bus.subscribe(ServiceFailed)

        async def broken() -> None:
            raise RuntimeError("collector crashed")

        node.spawn(broken(), name="collector")
        event = await asyncio.wait_for(failures.get(), 1)
        assert isinstance(event, ServiceFailed)
        assert event.service == "collector"
        assert "crashed" in event.error
        assert node.state == "running"


async def test_status_snapshot_and_loop_lag(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, CHIMERA_ENGINE__LOOP_LAG_INTERVAL="0.01")
    async with HeartNode(settings) as node:
        node.loop_lag.report_every = 0.1
        lag_events = node.bus.subscribe(LoopLagSampled)
        event = await asyncio.wait_for(lag_events.get(), 2)
        assert isinstance(event, LoopLagSampled)
        assert event.samples > 0
        status = node.status()
        assert status.state == "running"
        assert status.schema_version == MIGRATIONS[-1].version
        assert status.database.endswith("chimera.sqlite3")
        assert status.loop_lag_p99_ms >= 0
        metrics = node.metrics.render()[0].decode()
        assert "chimera_loop_lag_seconds_bucket" in metrics
        assert "chimera_engine_up 1.0" in metrics


async def test_loop_lag_sees_a_blocked_loop(tmp_path: Path) -> None:
    import time

    settings = make_settings(tmp_path, CHIMERA_ENGINE__LOOP_LAG_INTERVAL="0.01")
    async with HeartNode(settings) as node:
        await asyncio.sleep(0.05)
        time.sleep(0.12)  # noqa: ASYNC251  (deliberately block the loop)
        await asyncio.sleep(0.05)
        assert node.loop_lag.stats().max_ms >= 80


def test_runs_under_plain_asyncio_run(tmp_path: Path) -> None:
    async def main() -> str:
        async with HeartNode(make_settings(tmp_path)) as node:
            return node.state

    assert asyncio.run(main()) == "running"


async def test_security_before_start_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = HeartNode(make_settings(tmp_path)).security


def test_secret_file_is_private(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)

    async def main() -> None:
        async with HeartNode(settings):
            pass

    asyncio.run(main())
    assert settings.secret_path.stat().st_mode & 0o777 == 0o600
    settings.secret_path.chmod(0o644)
    asyncio.run(main())
    assert settings.secret_path.stat().st_mode & 0o777 == 0o600


async def test_loop_lag_probes_ten_times_a_second(tmp_path: Path) -> None:
    """Each probe wakes the loop (the GUI thread, in the console): ten a second by default,
    each a plain timer callback; the percentiles cover the last half minute."""
    async with HeartNode(make_settings(tmp_path)) as node:
        before = node.loop_lag.stats().samples
        await asyncio.sleep(1.0)
        assert 7 <= node.loop_lag.stats().samples - before <= 11
        assert node.loop_lag.window_samples == 300
