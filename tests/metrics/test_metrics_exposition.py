"""/metrics from a running engine with the demo workload, read by Prometheus' own tools.

The scrape is parsed with prometheus_client's parsers (classic text and, when
asked for, OpenMetrics) and, where installed, checked by ``promtool``. The tool
calls counted from two scrapes must equal the calls the runtime finished between
them, tool by tool.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from chimera_engine.config import load_settings
from chimera_engine.events import Subscription, ToolCallCompleted
from chimera_engine.metrics.names import base_family
from chimera_engine.node import HeartNode
from tests.conftest import ADMIN_PASSWORD

DASHBOARD = Path(__file__).resolve().parents[2] / "resources" / "grafana" / "chimera-dashboard.json"

#: Name parts that say a unit other than Prometheus' base units.
NON_BASE_UNITS = re.compile(
    r"_(ms|us|ns|millis|milliseconds|microseconds|minutes|hours|days|mb|kb|gb|mib|kib|gib|"
    r"megabytes|kilobytes|percent|pct)(_|$)"
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class Scraper:
    def __init__(self, node: HeartNode, client: httpx.AsyncClient, calls: Subscription) -> None:
        self.node = node
        self.client = client
        self.calls = calls
        self.made: Counter[str] = Counter()

    async def quiet_point(self) -> None:
        """Pause the workload, let running calls finish and every event be counted."""
        assert self.node.demo is not None
        self.node.demo.workload.pause()
        await self.node.demo.workload.drain()
        await asyncio.sleep(0.3)
        while (event := self.calls.get_nowait()) is not None:
            assert isinstance(event, ToolCallCompleted)
            self.made[event.record.tool] += 1
        assert self.calls.dropped == 0

    async def scrape(self, accept: str = "") -> httpx.Response:
        r = await self.client.get("/metrics", headers={"Accept": accept} if accept else {})
        assert r.status_code == 200, r.text
        return r


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Scraper]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        use_default_file=False,
        env={
            "CHIMERA_API__PORT": "0",
            "CHIMERA_DEMO__ENABLED": "true",
            "CHIMERA_DEMO__START_DELAY": "0",
            "CHIMERA_DEMO__FAULTS": "false",
            "CHIMERA_DEMO__AGENTS": "0",
            "CHIMERA_DEMO__RATE": "30",
            "CHIMERA_TOOLS__WATCH": "false",
        },
    )
    node = HeartNode(settings)
    calls = node.bus.subscribe(ToolCallCompleted, maxsize=100_000)
    async with node:
        assert node.api is not None
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        headers = {"Authorization": f"Bearer {admin.tokens.access_token}"}
        async with httpx.AsyncClient(base_url=node.api.url, headers=headers, timeout=30) as client:
            yield Scraper(node, client, calls)


def samples_of(text: str) -> tuple[Samples, dict[str, str]]:
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    return samples, types


def tool_calls(samples: Samples) -> Counter[str]:
    out: Counter[str] = Counter()
    for (name, labels), value in samples.items():
        if name == "chimera_tool_calls_total":
            out[dict(labels)["tool"]] += int(value)
    return out


async def test_a_scrape_of_the_demo_is_prometheus_clean_and_counts_every_call(
    demo: Scraper,
) -> None:
    for _ in range(100):  # the workload needs its first calls
        await asyncio.sleep(0.1)
        if len(demo.calls) >= 20:
            break
    await demo.quiet_point()
    t1, first = time.time(), await demo.scrape()
    assert first.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert demo.node.demo is not None
    demo.node.demo.workload.resume()
    await asyncio.sleep(2.0)
    await demo.quiet_point()
    before = Counter(demo.made)
    t2, second = time.time(), await demo.scrape()
    s1, _ = samples_of(first.text)
    s2, types = samples_of(second.text)

    for family in text_string_to_metric_families(second.text):
        assert not NON_BASE_UNITS.search(family.name), f"{family.name} is not in a base unit"
        if family.type == "counter":  # the parser names the family without _total
            for sample in family.samples:
                assert sample.name in (family.name + "_total", family.name + "_created")
    for (name, labels), value in s1.items():
        if name.endswith("_total") and types.get(name[: -len("_total")]) == "counter":
            assert s2[name, labels] >= value, f"{name}{dict(labels)} went down"

    made = before  # every call finished up to the second quiet point
    c1, c2 = tool_calls(s1), tool_calls(s2)
    delta = c2 - c1
    assert sum(delta.values()) > 10, "the workload made too few calls"
    assert c2 == made, "the counters must count exactly the calls made"
    rate = sum(delta.values()) / (t2 - t1)
    assert rate == pytest.approx((sum(made.values()) - sum(c1.values())) / (t2 - t1))

    # the families a dashboard relies on
    assert s2["chimera_engine_up", ()] == 1.0
    assert any(n == "chimera_tool_call_duration_seconds_bucket" for n, _ in s2)
    assert ("chimera_loop_lag_seconds_bucket", (("le", "30.0"),)) in s2
    assert sum(v for (n, _), v in s2.items() if n == "chimera_audit_entries_total") > 0
    assert any(n == "process_resident_memory_bytes" for n, _ in s2)
    assert any(n == "python_info" for n, _ in s2)
    assert any(n == "python_gc_collections_total" for n, _ in s2)
    assert {dict(lb)["state"] for n, lb in s2 if n == "chimera_patches"} >= {"ready", "kept"}
    http = {dict(lb)["route"] for n, lb in s2 if n == "chimera_http_requests_total"}
    assert "/metrics" in http and "/api/auth/login" not in http  # never called here
    assert any(n == "chimera_anomaly_score" for n, _ in s2)
    exported = {f.name for f in text_string_to_metric_families(second.text)}
    assert dashboard_families() <= exported, dashboard_families() - exported


def test_the_grafana_dashboard_uses_only_exported_families() -> None:
    """Every family a panel queries is one the engine exports (checked against a list
    taken from the code that declares them, then against a live scrape below)."""
    names = dashboard_families()
    assert len(names) >= 15
    assert {"chimera_tool_calls", "chimera_anomaly_score", "chimera_patches"} <= names


def dashboard_families() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs and all(e.count("(") == e.count(")") for e in exprs)
    found = set()
    for expr in exprs:
        for name in re.findall(r"\b((?:chimera|process|python)_[a-z0-9_]+)", expr):
            found.add(base_family(name))
    return found


async def test_openmetrics_when_asked_and_promtool_agrees(demo: Scraper) -> None:
    await asyncio.sleep(1.5)
    r = await demo.scrape("application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
    assert r.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert r.text.endswith("# EOF\n")
    names = {f.name for f in openmetrics_families(r.text)}  # strict: raises on any fault
    assert {"chimera_tool_calls", "process_cpu_seconds", "chimera_loop_lag_seconds"} <= names
    plain = await demo.scrape()
    assert "Accept" in plain.headers.get("Vary", "")
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    # promtool reads the classic text format (what Prometheus gets without OpenMetrics)
    done = await asyncio.to_thread(
        subprocess.run,
        [promtool, "check", "metrics"],
        input=plain.content,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout.decode() + done.stderr.decode()
    )
