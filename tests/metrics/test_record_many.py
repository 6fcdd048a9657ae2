"""A batch through ``MetricsHub.record_many`` (what collectors, scrapes and pushes send)
ends in the same anomalies and incidents as the same samples one ``record`` at a time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chimera_engine.errors import ValidationError
from chimera_engine.events import EventBus
from chimera_engine.metrics.hub import MetricsHub, Sample
from chimera_engine.store.db import Database

T0 = 1.7e9
TOOLS = 20  # 4 metrics each: a batch of 80 samples, scored in the engine's bank


def tick_samples(i: int, rng: np.random.Generator) -> list[Sample]:
    """One collector tick: every tool's four metrics; tools 3 and 11 fail for a while."""
    out: list[Sample] = []
    for k in range(TOOLS):
        bad = k in (3, 11) and 400 <= i < 460
        labels = {"tool": f"tool{k}"}
        err = (0.5 if bad else 0.02) + float(rng.normal(0.0, 0.004))
        lat = (300.0 if bad else 40.0 + k) + float(rng.normal(0.0, 1.5))
        out += [
            Sample("tool.calls", 5.0 + float(rng.normal(0.0, 0.3)), labels, T0 + i),
            Sample("tool.error_rate", err, labels, T0 + i),
            Sample("tool.latency_ms", lat, labels, T0 + i),
            Sample("tool.confidence", 1.0 - err, labels, T0 + i),
        ]
    return out


async def run(
    tmp: Path, batched: bool
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    db = Database(tmp / f"hub{batched}.db")
    await db.open()
    try:
        hub = MetricsHub(EventBus(), db)
        rng = np.random.default_rng(7)
        raised = 0
        for i in range(700):
            samples = tick_samples(i, rng)
            if batched:
                raised += hub.record_many(samples)
            else:
                for s in samples:
                    raised += hub.record(s.name, s.value, s.labels, s.t) is not None
            if i % 5 == 4:
                await hub.flush()
                await hub.incidents.tick(T0 + i, hub.engine)
        await hub.flush()
        assert hub.engine.banked("tool.calls{tool=tool0}") is batched
        anomalies = [
            (a.metric, a.t, a.value, a.expected, a.score, a.kind, a.incident_id)
            for a in await hub.anomalies(limit=10_000)
        ]
        assert len(anomalies) == raised
        incidents = [
            (i.subject, i.opened_at, i.metrics, i.anomalies, i.peak, i.resolved_at, i.resolved_by)
            for i in await hub.incidents.list()
        ]
        return anomalies, incidents
    finally:
        await db.close()


async def test_batches_give_the_same_anomalies_and_incidents(tmp_path: Path) -> None:
    anomalies, incidents = await run(tmp_path, batched=True)
    assert (anomalies, incidents) == await run(tmp_path, batched=False)
    # one incident per failing tool across its metrics, resolved by itself afterwards
    assert sorted(i[0] for i in incidents) == ["tool=tool11", "tool=tool3"]
    assert all(len(i[2]) >= 2 and i[6] == "auto" for i in incidents)


async def test_a_bad_name_refuses_the_whole_batch(tmp_path: Path) -> None:
    db = Database(tmp_path / "h.db")
    await db.open()
    try:
        hub = MetricsHub(EventBus(), db)
        batch = [Sample(f"ok.m{j}", 1.0, None, T0) for j in range(80)]
        with pytest.raises(ValidationError):
            hub.record_many([*batch, Sample("bad name", 1.0, None, T0)])
        assert hub.samples == 0 and hub.latest() == []
        assert hub.record_many(batch) == 0 and hub.samples == 80
    finally:
        await db.close()
