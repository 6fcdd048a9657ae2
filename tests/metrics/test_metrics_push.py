"""Pushed and scraped series in /metrics: their own names and labels, the series cap,
expiry of stale series, and pushes built to break the exposition."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from chimera_engine.config import load_settings
from chimera_engine.metrics import feeder
from chimera_engine.metrics.collectors import PrometheusScraper
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from tests.conftest import ADMIN_PASSWORD, GREETER_V1, write_module


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, Session, httpx.AsyncClient]]:
    write_module(tmp_path / "ws", "greeter", GREETER_V1)
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        use_default_file=False,
        env={
            "CHIMERA_API__PORT": "0",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_METRICS__SERIES_PER_PRINCIPAL": "50",
            "CHIMERA_METRICS__SERIES_TOTAL": "80",
            "CHIMERA_METRICS__SERIES_STALE_SECONDS": "30",
        },
    )
    async with HeartNode(settings) as node:
        assert node.api is not None
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        headers = {"Authorization": f"Bearer {admin.tokens.access_token}"}
        async with httpx.AsyncClient(base_url=node.api.url, headers=headers) as client:
            yield node, admin, client


def families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    out: dict[str, list[tuple[str, dict[str, str], float]]] = {}
    for f in text_string_to_metric_families(text):
        out[f.name] = [(s.name, s.labels, s.value) for s in f.samples]
    return out


async def promtool_clean(body: bytes) -> None:
    """``promtool check metrics`` finds nothing to say (skipped where it is not installed)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return
    args = [promtool, "check", "metrics"]
    done = await asyncio.to_thread(subprocess.run, args, input=body, capture_output=True)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stderr.decode()


async def test_pushed_series_keep_their_names_and_labels(
    env: tuple[HeartNode, Session, httpx.AsyncClient],
) -> None:
    node, _, client = env
    nasty = 'a "quoted" value\\ with a\nnewline'
    samples = [
        {"name": "queue.depth", "value": 3, "labels": {"queue": "a"}},
        {"name": "queue.depth", "value": 4, "labels": {"queue": "b"}},
        {"name": "temp-c", "value": 21.5, "labels": {"host name": nasty, "__name__": "x"}},
        {"name": "process.cpu", "value": 1},  # would shadow the process collector
        {"name": "chimera_engine_up", "value": 0},  # would shadow the engine
        {"name": "9lives", "value": 9},
        {"name": "dup.a", "value": 1, "labels": {"k.x": "1", "k_x": "2"}},  # labels clash
    ]
    r = await client.post("/api/metrics", json={"samples": samples})
    assert r.status_code == 202 and r.json()["accepted"] == 7 and r.json()["refused"] == 0
    body = (await client.get("/metrics")).content
    got = families(body.decode())
    assert sorted((s[1]["queue"], s[2]) for s in got["queue_depth"]) == [("a", 3.0), ("b", 4.0)]
    [(_, labels, value)] = got["temp_c"]
    assert labels == {"host_name": nasty, "_name__": "x"} and value == 21.5
    assert got["_9lives"][0][2] == 9.0
    assert len(got["dup_a"][0][1]) == 1  # one label kept, the exposition stays valid
    assert "process_cpu" not in got and got["chimera_engine_up"][0][2] == 1.0
    assert got["chimera_series_unexported"][0][2] == 2
    assert {s[1]["origin"]: s[2] for s in got["chimera_series"]}["push"] == 7
    # the hub keeps the structured identity beside the key the GUI and the anomaly engine use
    info = {m.key: m for m in node.hub.metrics()}["queue.depth{queue=a}"]
    assert (info.name, info.labels, info.origin) == ("queue.depth", {"queue": "a"}, "push")
    await promtool_clean(body)
    om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert "temp_c" in {f.name for f in openmetrics_families(om.text)}


async def test_the_series_cap_cuts_a_flood_and_says_so(
    env: tuple[HeartNode, Session, httpx.AsyncClient],
) -> None:
    node, admin, client = env
    flood = [{"name": "flood", "value": 1, "labels": {"i": str(i)}} for i in range(60)]
    r = await client.post("/api/metrics", json={"samples": flood})
    body = r.json()
    assert r.status_code == 202
    assert (body["accepted"], body["refused"], body["refused_series"]) == (50, 10, 10)
    assert "50 per principal" in body["message"] and "admin holds 50" in body["message"]
    # series already held still take samples; only new ones are refused
    again = await client.post("/api/metrics", json={"samples": flood[:50]})
    assert again.json()["refused"] == 0 and again.json()["message"] == ""
    # a second principal meets the total cap
    await node.facade.admin.create_user(admin.principal, "op", ADMIN_PASSWORD, "operator")
    op = await node.facade.sessions.login("op", ADMIN_PASSWORD)
    other = [{"name": "other", "value": 1, "labels": {"i": str(i)}} for i in range(40)]
    result = await node.facade.metrics.push_metrics(op.principal, other)
    assert (result.accepted, result.refused) == (30, 10) and "80 in total" in result.message
    got = families((await client.get("/metrics")).text)
    refused = {
        (s[1]["origin"], s[1]["reason"]): s[2]
        for s in got["chimera_series_refused"]
        if s[0].endswith("_total")
    }
    assert refused["push", "owner_limit"] == 10 and refused["push", "total_limit"] == 10
    assert len(got["flood"]) == 50 and len(got["other"]) == 30
    # stale series leave the exposition and free their place in the cap
    node.hub.expire_stale(time.time() + 31)
    got = families((await client.get("/metrics")).text)
    assert "flood" not in got and "other" not in got
    fresh = await client.post("/api/metrics", json={"samples": flood})
    assert fresh.json()["accepted"] == 50


async def test_scraped_series_keep_name_and_type(
    env: tuple[HeartNode, Session, httpx.AsyncClient],
) -> None:
    node, _, client = env
    text = (
        '# HELP jobs_total Jobs\n# TYPE jobs_total counter\njobs_total{queue="a"} 7\n'
        "# HELP temp Temperature\n# TYPE temp gauge\ntemp 20.5\n"
        '# TYPE lat histogram\nlat_bucket{le="1.0"} 2\nlat_bucket{le="+Inf"} 3\n'
        "lat_sum 2.5\nlat_count 3\n"
    )

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=text)

    mock = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    status = await PrometheusScraper(node.hub, "http://svc/metrics", client=mock).scrape_once()
    await mock.aclose()
    assert status.up
    # the hub key stays what the console and the detectors know
    assert "scrape.jobs_total{queue=a,target=svc}" in {m.key for m in node.hub.metrics()}
    body = (await client.get("/metrics")).content
    parsed = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert parsed["jobs"].type == "counter"
    assert parsed["jobs"].samples[0].labels == {"queue": "a", "target": "svc"}
    assert parsed["temp"].type == "gauge" and parsed["temp"].samples[0].value == 20.5
    assert parsed["lat_bucket"].type == "unknown"  # parts of a histogram stay readable
    await promtool_clean(body)
    om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    strict = {f.name: f for f in openmetrics_families(om.text)}
    assert strict["jobs"].type == "counter" and strict["temp"].type == "gauge"


async def test_http_requests_are_counted_by_route_template(
    env: tuple[HeartNode, Session, httpx.AsyncClient],
) -> None:
    _, _, client = env
    await client.post("/api/anomaly/12345/acknowledge")
    await client.get("/no/such/path/42")
    await client.request("TRACE", "/metrics")
    got = families((await client.get("/metrics")).text)
    seen = {
        (s[1]["route"], s[1]["method"], s[1]["code"])
        for s in got["chimera_http_requests"]
        if s[0].endswith("_total")
    }
    assert ("/api/anomaly/{anomaly_id}/acknowledge", "POST", "404") in seen
    assert ("unmatched", "GET", "404") in seen
    assert any(r == "unmatched" and m == "OTHER" for r, m, _ in seen)
    assert not any("12345" in r or "42" in r for r, _, _ in seen)


async def test_anomalies_are_counted_by_metric_name_with_a_bound(
    env: tuple[HeartNode, Session, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    node, admin, client = env
    monkeypatch.setattr(feeder, "MAX_ANOMALY_SERIES", 1)
    t0 = time.time() - 300
    for name in ("queue.depth", "disk.io"):
        samples = [
            {"name": name, "value": 10 + (i % 3), "labels": {"host": "h1"}, "t": t0 + i}
            for i in range(200)
        ]
        samples.append({"name": name, "value": 400.0, "labels": {"host": "h1"}, "t": t0 + 200})
        result = await node.facade.metrics.push_metrics(admin.principal, samples)
        assert result.anomalies == 1
    for _ in range(50):
        got = families((await client.get("/metrics")).text)
        counted = {
            (s[1]["metric"], s[1]["kind"]): s[2]
            for s in got["chimera_anomalies"]
            if s[0].endswith("_total")
        }
        if len(counted) == 2:
            break
        await asyncio.sleep(0.05)
    # the first name keeps its label; past the bound, names are counted as "other"
    assert counted == {("queue.depth", "spike"): 1.0, ("other", "spike"): 1.0}
    scores = {s[1]["metric"] for s in got["chimera_anomaly_score"]}
    assert {"queue.depth", "disk.io"} <= scores
