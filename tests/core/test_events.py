"""The event bus: typed delivery, no blocking, droppable vs. lossless events."""

from __future__ import annotations

import asyncio

from chimera_engine.events import (
    AuditAppended,
    EngineStateChanged,
    EventBus,
    LoopLagSampled,
)
from chimera_engine.store.records import AuditEntry


def _lag(i: int) -> LoopLagSampled:
    return LoopLagSampled(p50_ms=i, p99_ms=i, max_ms=i, samples=1)


def _audit(i: int) -> AuditAppended:
    entry = AuditEntry(seq=i, ts=0.0, actor="a", role="admin", action="x", target="", outcome="ok")
    return AuditAppended(entry=entry)


async def test_subscribers_get_only_their_types() -> None:
    bus = EventBus()
    states = bus.subscribe(EngineStateChanged)
    everything = bus.subscribe()
    bus.publish(_lag(1))
    bus.publish(EngineStateChanged(state="running"))
    assert isinstance(await states.get(), EngineStateChanged)
    assert len(states) == 0
    assert len(everything) == 2


async def test_slow_subscriber_never_blocks_and_loses_no_audit_event() -> None:
    bus = EventBus()
    slow = bus.subscribe(maxsize=10)
    for i in range(1000):
        bus.publish(_lag(i))  # returns at once: publish never awaits
        if i % 10 == 0:
            bus.publish(_audit(i))
    kept = [slow.get_nowait() for _ in range(len(slow))]
    audits = [e for e in kept if isinstance(e, AuditAppended)]
    lags = [e for e in kept if isinstance(e, LoopLagSampled)]
    assert [a.entry.seq for a in audits] == list(range(0, 1000, 10))
    assert len(lags) == 10
    assert [lag.p50_ms for lag in lags] == list(range(990, 1000))  # the newest samples
    assert slow.dropped == 990


async def test_handler_errors_do_not_stop_delivery() -> None:
    bus = EventBus()
    seen: list[str] = []
    errors: list[BaseException] = []

    async def handler(event: EngineStateChanged) -> None:
        if event.state == "bad":
            raise ValueError("handler failed")
        seen.append(event.state)

    bus.add_handler(handler, EngineStateChanged, on_error=errors.append)
    for state in ("a", "bad", "b"):
        bus.publish(EngineStateChanged(state=state))
    for _ in range(5):
        await asyncio.sleep(0)
    assert seen == ["a", "b"]
    assert len(errors) == 1
    await bus.aclose()
    assert bus.subscriber_count() == 0


async def test_close_wakes_waiting_subscriber() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    collected: list[object] = []

    async def consume() -> None:
        async for event in sub:
            collected.append(event)

    task = asyncio.create_task(consume())
    bus.publish(EngineStateChanged(state="x"))
    await asyncio.sleep(0.01)
    sub.close()
    await asyncio.wait_for(task, 1)
    assert len(collected) == 1
