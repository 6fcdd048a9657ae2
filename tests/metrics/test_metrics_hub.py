"""The metrics pipeline: hub, collectors, anomalies, predictions, API and export."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.errors import PermissionDeniedError, ValidationError
from chimera_engine.events import AnomalyDetected, FailurePredicted
from chimera_engine.metrics.collectors import PrometheusScraper
from chimera_engine.metrics.hub import metric_key
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal
from tests.conftest import ADMIN_PASSWORD, GREETER_V1, write_module


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, Session]]:
    write_module(tmp_path / "ws", "greeter", GREETER_V1)
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        use_default_file=False,
        env={
            "CHIMERA_API__PORT": "0",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_METRICS__TOOL_INTERVAL": "0.05",
            "CHIMERA_METRICS__FORECAST_INTERVAL": "0.05",
        },
    )
    async with HeartNode(settings) as node:
        yield node, await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)


def test_metric_keys() -> None:
    assert metric_key("cpu") == "cpu"
    assert metric_key("lat", {"b": "2", "a": "1"}) == "lat{a=1,b=2}"
    for bad in ("", "a b", "x{y}", "a,b"):
        with pytest.raises(ValidationError):
            metric_key(bad)


async def test_spike_becomes_a_persisted_anomaly_and_is_acknowledged(
    env: tuple[HeartNode, Session],
) -> None:
    node, admin = env
    events = node.bus.subscribe(AnomalyDetected)
    t0 = time.time() - 300
    samples = [{"name": "queue.depth", "value": 10 + (i % 3), "t": t0 + i} for i in range(200)]
    samples.append({"name": "queue.depth", "value": 400.0, "t": t0 + 200})
    result = await node.facade.metrics.push_metrics(admin.principal, samples)
    assert result.accepted == 201 and result.anomalies == 1
    event = await asyncio.wait_for(events.get(), 2)
    assert isinstance(event, AnomalyDetected) and event.event.kind.value == "spike"
    stored = await node.facade.metrics.list_anomalies(admin.principal)
    assert stored[0].metric == "queue.depth" and stored[0].acknowledged_at is None
    acked = await node.facade.metrics.acknowledge_anomaly(admin.principal, stored[0].id)
    assert acked.acknowledged_by == "admin"
    audit = await node.security.audit.query(AuditQuery(action_prefix="anomaly."))
    assert audit[0].target == f"anomaly:{stored[0].id}"
    ts, values = await node.facade.metrics.metric_series(admin.principal, "queue.depth")
    assert len(ts) == len(values) == 201 and values[-1] == 400.0


async def test_bad_samples_and_permissions(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    with pytest.raises(ValidationError, match="sample 1"):
        await node.facade.metrics.push_metrics(
            admin.principal, [{"name": "a", "value": 1}, {"name": "a", "value": "high"}]
        )
    res = await node.facade.metrics.push_metrics(
        admin.principal, [{"name": "a", "value": math.nan}, {"name": "a", "value": math.inf}]
    )
    assert res.accepted == 2 and res.anomalies == 0
    info = {m.key: m for m in await node.facade.metrics.list_metrics(admin.principal)}
    assert info["a"].rejected == 2  # NaN and inf, counted, not learned
    assert info["a"].samples == 0  # the refused batch recorded nothing
    # a pushed value too large to keep is refused the same way and spoils nothing
    await node.facade.metrics.push_metrics(admin.principal, [{"name": "b", "value": 5.0}])
    await node.facade.metrics.push_metrics(admin.principal, [{"name": "b", "value": 1e300}])
    info = {m.key: m for m in await node.facade.metrics.list_metrics(admin.principal)}
    assert (info["b"].samples, info["b"].rejected) == (1, 1)
    _, values = await node.facade.metrics.metric_series(admin.principal, "b")
    assert values == [5.0]
    await node.facade.admin.create_user(admin.principal, "olga", ADMIN_PASSWORD, "observer")
    olga = (await node.facade.sessions.login("olga", ADMIN_PASSWORD)).principal
    with pytest.raises(PermissionDeniedError):
        await node.facade.metrics.push_metrics(olga, [{"name": "x", "value": 1}])
    with pytest.raises(PermissionDeniedError):
        await node.facade.metrics.acknowledge_anomaly(olga, 1)


async def test_tool_calls_become_metrics(env: tuple[HeartNode, Session]) -> None:
    node, _ = env
    for _ in range(5):
        await node.runtime.call("greet", {"name": "x"}, Principal.system("t"))
    for _ in range(40):
        keys = {m.key for m in node.hub.metrics()}
        if "tool.confidence{tool=greet}" in keys:
            break
        await asyncio.sleep(0.05)
    assert {
        "tool.calls{tool=greet}",
        "tool.latency_ms{tool=greet}",
        "tool.error_rate{tool=greet}",
        "tool.confidence{tool=greet}",
    } <= keys
    assert node.hub.engine.thresholds("tool.confidence{tool=greet}") == [0.8]
    exported = (await node.exposition.scrape())[0].decode()
    assert 'chimera_tool_confidence_ratio{tool="greet"}' in exported
    assert 'chimera_tool_calls_total{outcome="ok",tool="greet",version="1"} 5.0' in exported
    assert 'chimera_tool_call_duration_seconds_count{tool="greet"} 5.0' in exported


async def test_predicted_crossing_is_published(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    predictions = node.bus.subscribe(FailurePredicted)
    node.hub.set_thresholds("disk.used_percent", None, 90.0)
    start = time.time() - 600
    for i in range(120):  # +0.1 % every 5 s: 90 % is about 20 minutes away
        node.hub.record("disk.used_percent", 70.0 + 0.1 * i, None, start + 5 * i)
    event = await asyncio.wait_for(predictions.get(), 5)
    assert isinstance(event, FailurePredicted)
    assert "disk.used_percent is forecast to cross 90" in event.alert.message()
    crossing = await node.facade.metrics.predict_crossing(
        admin.principal, "disk.used_percent", 90.0
    )
    assert crossing is not None and 5 < crossing.minutes < 60


async def test_prometheus_scrape_up_down_and_garbage(env: tuple[HeartNode, Session]) -> None:
    node, _ = env
    text = '# HELP jobs_total Jobs\n# TYPE jobs_total counter\njobs_total{queue="a"} 7\n'

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return httpx.Response(200, text=text)
        if request.url.path == "/garbage":
            return httpx.Response(200, text="this is { not prometheus")
        return httpx.Response(503)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    ok = await PrometheusScraper(node.hub, "http://svc/metrics", client=client).scrape_once()
    assert ok.up and ok.samples == 1
    assert "scrape.jobs_total{queue=a,target=svc}" in {m.key for m in node.hub.metrics()}
    down = await PrometheusScraper(node.hub, "http://svc/down", client=client).scrape_once()
    assert not down.up and "503" in down.error
    bad = await PrometheusScraper(node.hub, "http://svc/garbage", client=client).scrape_once()
    assert not bad.up and bad.error
    await client.aclose()


async def test_metrics_api(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    assert node.api is not None
    headers = {"Authorization": f"Bearer {admin.tokens.access_token}"}
    async with httpx.AsyncClient(base_url=node.api.url, headers=headers) as client:
        samples = [
            {
                "name": "api.latency",
                "value": 5.0 + (i % 2),
                "labels": {"route": "x"},
                "t": time.time() - 100 + i,
            }
            for i in range(100)
        ]
        r = await client.post("/api/metrics", json={"samples": samples})
        assert r.status_code == 202 and r.json()["accepted"] == 100
        listed = (await client.get("/api/metrics/list")).json()["metrics"]
        assert any(m["key"] == "api.latency{route=x}" for m in listed)
        detect = await client.get("/api/anomaly/detect?limit=5")
        assert detect.status_code == 200 and "anomalies" in detect.json()
        pred = await client.post(
            "/api/anomaly/predict", json={"metric": "api.latency{route=x}", "threshold": 100}
        )
        assert pred.status_code == 200 and pred.json()["threshold"] == 100
        bad = await client.post("/api/metrics", json={"samples": [{"name": "x"}]})
        assert bad.status_code == 400
        missing = await client.post("/api/anomaly/predict", json={"metric": "nope", "threshold": 1})
        assert missing.status_code == 404


async def _spikes(node: HeartNode, names: list[str]) -> None:
    t0 = time.time() - 300
    for name in names:
        samples = [{"name": name, "value": 10 + (i % 3), "t": t0 + i} for i in range(200)]
        samples.append({"name": name, "value": 400.0, "t": t0 + 200})
        await node.hub.flush()
        for s in samples:
            node.hub.record(str(s["name"]), float(s["value"]), None, float(s["t"]))
    await node.hub.flush()


async def test_bulk_acknowledge_over_the_api_and_its_attacks(
    env: tuple[HeartNode, Session],
) -> None:
    node, admin = env
    assert node.api is not None
    await _spikes(node, ["q.a", "q.b", "q.c"])
    ids = sorted(a.id for a in await node.facade.metrics.list_anomalies(admin.principal))
    assert len(ids) == 3
    headers = {"Authorization": f"Bearer {admin.tokens.access_token}"}
    async with httpx.AsyncClient(base_url=node.api.url, headers=headers) as client:
        url = "/api/anomalies/acknowledge"
        bad_bodies = (
            {},
            {"ids": [ids[0]], "all": True},
            {"ids": ["1"]},
            {"ids": [True]},
            {"ids": [2**63]},  # past SQLite's integers: refused, not a 500
            {"ids": [0]},
        )
        for bad in bad_bodies:
            r = await client.post(url, json=bad)
            assert r.status_code == 400, bad
        r = await client.post(url, json={"ids": list(range(6000))})
        assert r.status_code == 400  # too many: nothing changes
        assert all(
            a.acknowledged_at is None
            for a in await node.facade.metrics.list_anomalies(admin.principal)
        )
        # Unknown ids are ignored, known ones acknowledged once.
        r = await client.post(url, json={"ids": [ids[0], ids[0], 10**9]})
        assert r.status_code == 200 and r.json()["acknowledged"] == [ids[0]]
        r = await client.post(url, json={"all": True})
        assert r.status_code == 200 and r.json()["acknowledged"] == ids[1:]
    # A capability scoped to one anomaly cannot acknowledge them all.
    token, _cap = await node.facade.admin.issue_capability(
        admin.principal, "anomaly.acknowledge", f"anomaly:{ids[0]}"
    )
    scoped = await node.security.capabilities.use(
        token, Permission.ANOMALY_ACKNOWLEDGE, f"anomaly:{ids[0]}"
    )
    with pytest.raises(PermissionDeniedError):
        await node.facade.metrics.acknowledge_anomalies(scoped, None)
    entries = await node.security.audit.query(AuditQuery(action_prefix="anomaly.acknowledge_bulk"))
    assert [e.detail.get("count") for e in entries if e.outcome == "ok"] == [2, 1]
