"""Hostile pushes through the real API (aiohttp on loopback): batches of 5,000 samples
with duplicates, label-order permutations of one series, huge values, late samples and
one series repeated; the node's detectors end exactly where feeding the same samples
one at a time leads, and a sample stamped far ahead of the server's clock is refused
(it would have frozen the series: every later sample looks out of order)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from chimera_engine.anomaly.engine import AnomalyDetectionEngine, AnomalyEvent
from chimera_engine.config import load_settings
from chimera_engine.metrics.hub import metric_key
from chimera_engine.node import HeartNode
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, httpx.AsyncClient]]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        use_default_file=False,
        env={"CHIMERA_API__PORT": "0", "CHIMERA_TOOLS__WATCH": "false"},
    )
    async with HeartNode(settings) as node:
        assert node.api is not None
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        headers = {"Authorization": f"Bearer {admin.tokens.access_token}"}
        async with httpx.AsyncClient(base_url=node.api.url, headers=headers) as client:
            yield node, client


def hostile_pushes(t0: float) -> list[list[dict[str, object]]]:
    """Three pushes of 5,000 samples over 300 series: each series several times a push,
    its labels in either order, exact duplicates, late samples, values past the limit;
    the last push repeats one series 4,000 times."""
    rng = np.random.default_rng(9)
    clock = np.full(300, t0)
    pushes: list[list[dict[str, object]]] = []
    for p in range(3):
        samples: list[dict[str, object]] = []
        while len(samples) < 5000:
            j = int(rng.integers(0, 300)) if p < 2 or len(samples) < 1000 else 7
            clock[j] += 1.0
            value: float = 50.0 + float(rng.standard_normal())
            if rng.random() < 0.01:
                value += 40.0
            pairs = [("host", f"h{j % 13}"), ("disk", f"d{j}")]
            sample = {"name": "disk.io_ms", "value": value, "t": float(clock[j])}
            sample["labels"] = dict(pairs if rng.random() < 0.5 else pairs[::-1])
            r = rng.random()
            if r < 0.01:
                sample["t"] = float(clock[j]) - 30.0  # late
            elif r < 0.02:
                sample["value"] = 1e308  # past the largest value kept
            samples.append(sample)
            if r > 0.98:
                samples.append(dict(sample))  # the same sample twice
        pushes.append(samples[:5000])
    return pushes


async def test_hostile_pushes_end_where_one_sample_at_a_time_does(
    env: tuple[HeartNode, httpx.AsyncClient],
) -> None:
    node, client = env
    solo = AnomalyDetectionEngine()
    want: list[AnomalyEvent] = []
    for samples in hostile_pushes(time.time() - 20_000):
        body = json.dumps({"samples": samples}).replace("1e+308", "1e400")  # inf in JSON
        r = await client.post(
            "/api/metrics", content=body, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 5000
        for s in samples:
            labels = s["labels"]
            assert isinstance(labels, dict)
            key = metric_key("disk.io_ms", labels)
            event = solo.observe(key, float(s["t"]), float(s["value"]))  # type: ignore[arg-type]
            want += [] if event is None else [event]
    await node.hub.flush()
    engine = node.hub.engine
    keys = sorted(k for k in solo.metrics())
    assert len(keys) == 300 and sum(engine.banked(k) for k in keys) > 200
    for key in keys:
        assert engine.status(key) == solo.status(key)
        assert engine.score(key) == solo.score(key)
        assert engine.normal_band(key) == solo.normal_band(key)
    statuses = [s for s in map(solo.status, keys) if s is not None]
    assert sum(s.nonfinite for s in statuses) > 50 and sum(s.out_of_order for s in statuses) > 50
    stored = await node.hub.anomalies(limit=10_000)
    assert len(want) > 5
    assert [(a.metric, a.t, a.value, a.score) for a in reversed(stored)] == [
        (e.metric, e.t, e.value, e.score) for e in want
    ]


async def test_a_sample_far_ahead_of_the_clock_is_refused(
    env: tuple[HeartNode, httpx.AsyncClient],
) -> None:
    node, client = env
    now = time.time()
    series = [{"name": "q.depth", "value": 3.0, "t": now - 60 + i} for i in range(50)]
    assert (await client.post("/api/metrics", json={"samples": series})).status_code == 202
    ahead = [{"name": "q.depth", "value": 4.0, "t": now + 10 * 365 * 86400}]
    r = await client.post("/api/metrics", json={"samples": [*series[:3], *ahead]})
    assert r.status_code == 400 and "ahead" in r.json()["error"]["message"]
    honest = [{"name": "q.depth", "value": 5.0, "t": now + 1}]
    assert (await client.post("/api/metrics", json={"samples": honest})).status_code == 202
    assert node.hub.engine.last_value("q.depth") == 5.0  # learned: not frozen
    status = node.hub.engine.status("q.depth")
    assert status is not None and status.out_of_order == 0 and status.samples == 51


async def test_a_pusher_cannot_write_into_the_engines_own_series(
    env: tuple[HeartNode, httpx.AsyncClient],
) -> None:
    """The engine's collectors own ``tool.error_rate{tool=x}``; a pushed sample there
    would raise false anomalies (and a request for a patch) or teach the detectors a
    failing tool is normal. Such samples are refused, and so are pushes into the scrape
    namespace; a series a pusher created first is taken over by the engine, afresh."""
    node, client = env
    hub, now = node.hub, time.time()
    hub.record("tool.error_rate", 0.01, {"tool": "greeter"}, now - 10)
    owned = metric_key("tool.error_rate", {"tool": "greeter"})
    pushed = [
        {"name": "tool.error_rate", "labels": {"tool": "greeter"}, "value": 0.9, "t": now},
        {"name": "scrape.up", "labels": {"target": "svc"}, "value": 0.0, "t": now},
        {"name": "tool.error_rate", "labels": {"tool": "greeter", "probe": "p"}, "value": 0.2},
    ]
    r = await client.post("/api/metrics", json={"samples": pushed})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["accepted"], body["refused"], body["refused_series"]) == (1, 2, 2)
    assert "engine" in body["message"] and "scrape" in body["message"]
    status = hub.engine.status(owned)
    assert status is not None and status.samples == 1  # the pushed 0.9 never reached it
    assert hub.meta(owned) is not None and hub.meta(owned).origin == "engine"  # type: ignore[union-attr]
    assert hub.meta("scrape.up{target=svc}") is None

    # a pusher gets in first: the engine's first sample takes the series over, afresh
    squat = metric_key("tool.calls", {"tool": "fresh"})
    early = [
        {"name": "tool.calls", "labels": {"tool": "fresh"}, "value": 5.0, "t": now - 60 + i}
        for i in range(40)
    ]
    r = await client.post("/api/metrics", json={"samples": early})
    assert r.status_code == 202 and r.json()["accepted"] == 40
    hub.record("tool.calls", 1.0, {"tool": "fresh"}, now)
    status = hub.engine.status(squat)
    assert status is not None and status.samples == 1
    assert hub.meta(squat).origin == "engine"  # type: ignore[union-attr]
    assert hub.cap.held_by("admin") == 1  # only the probe series is still the pusher's
    r = await client.post("/api/metrics", json={"samples": early[:1]})
    assert r.json()["refused"] == 1


async def test_a_late_or_absurd_sample_does_not_replace_the_exported_value(
    env: tuple[HeartNode, httpx.AsyncClient],
) -> None:
    node, client = env
    now = time.time()
    samples = [
        {"name": "room.temp", "value": 21.0, "t": now},
        {"name": "room.temp", "value": 5.0, "t": now - 30},  # late
        {"name": "room.temp", "value": 1e300, "t": now + 1},  # past the value limit
    ]
    r = await client.post("/api/metrics", json={"samples": samples})
    assert r.status_code == 202 and r.json()["accepted"] == 3
    assert dict(node.hub.latest())["room.temp"] == 21.0
    status = node.hub.engine.status("room.temp")
    assert status is not None and (status.out_of_order, status.nonfinite) == (1, 1)
    body = (await client.get("/metrics")).text
    assert "room_temp 21.0" in body
