"""Incidents on demo-shaped metric streams, in simulated time, through the live code.

Run: ``.venv/bin/python benchmarks/bench_incidents.py [--seed 1]``.

What is real and what is simulated: the samples go through the real
:class:`~chimera_engine.metrics.hub.MetricsHub` (``record`` -> engine -> ensemble
-> effect-size floors -> :class:`~chimera_engine.metrics.incidents.IncidentBook`
on a real SQLite store), and incidents are resolved by the hub's own ``tick`` every
5 s of simulated time. The *streams* are simulated, not produced by the demo
workload: they follow what the demo's collectors record (per tool once a second
when it had calls: calls/s, error rate, median latency, confidence; the analyzer
agent's RSS every 2 s; host and process metrics every 2 s) at the demo's rates
(5 normal calls/s over 4 tools) and the fault shapes documented in
:mod:`chimera_engine.demo.faults`. A fault's "recovery" here is simulated as a fix
landing 180 s after it started (the demo needs an LLM patch for that).

Two runs: the fault schedule off for 30 minutes (incidents per tool-hour), then on
(each fault once, 120 s apart, after 30 minutes of warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chimera_engine.anomaly.incidents import subject_of
from chimera_engine.events import EventBus
from chimera_engine.metrics.hub import MetricsHub
from chimera_engine.store.db import Database

TOOLS = {"clean_csv": 1.0, "parse_log": 0.6, "validate_json": 0.3, "check_http": 2.0}  # ms
NORMAL_RATE = 5.0  # calls/s over all tools
T0 = 1_700_000_000.0
FIX_AFTER_S = 180.0
GAP_S = 120.0


@dataclass
class Fault:
    name: str
    tool: str
    subject: str
    start: float = math.inf
    fixed: float = math.inf  # the fix lands (calls succeed / leak stops)
    stop: float = math.inf

    def on(self, t: float) -> bool:
        return self.start <= t < self.stop

    def broken(self, t: float) -> bool:
        return self.start <= t < min(self.stop, self.fixed)


def make_faults() -> list[Fault]:
    return [
        Fault("csv_shape", "clean_csv", "tool=clean_csv"),
        Fault("latency_leak", "parse_log", "tool=parse_log"),
        Fault("error_burst", "validate_json", "tool=validate_json"),
        Fault("memory_creep", "validate_json", "agent=a1"),
    ]


class Streams:
    """Samples as the demo's collectors would record them, second by second."""

    def __init__(self, rng: np.random.Generator, faults: list[Fault]) -> None:
        self.rng = rng
        self.faults = {f.name: f for f in faults}
        self.confidence = dict.fromkeys(TOOLS, 1.0)
        self.rss = 42.0
        self.cpu = 35.0
        self.success: dict[str, list[tuple[float, float]]] = {t: [] for t in TOOLS}

    def second(self, hub: MetricsHub, now: float) -> None:
        """Record the samples of second ``now`` (epoch s); fault times are relative."""
        rng, f = self.rng, self.faults
        t = now - T0
        for tool, base_ms in TOOLS.items():
            calls = int(rng.poisson(NORMAL_RATE / len(TOOLS)))
            errors = 0
            durations = list(base_ms * rng.lognormal(0.0, 0.25, calls))
            extra, failing, slow = 0, False, 0.0
            if tool == "clean_csv" and f["csv_shape"].on(t):
                extra, failing = int(rng.poisson(2.0)), f["csv_shape"].broken(t)
            if tool == "parse_log" and f["latency_leak"].on(t):
                extra = int(rng.poisson(4.0))
                if f["latency_leak"].broken(t):
                    slow = 0.5 * (t - f["latency_leak"].start)  # ms: tens within a minute
            if tool == "validate_json" and f["error_burst"].on(t):
                burst = t < f["error_burst"].start + 20.0
                extra, failing = (int(rng.poisson(6.0)), True) if burst else (0, False)
            if tool == "validate_json" and f["memory_creep"].on(t):
                extra += int(rng.poisson(20.0))  # tasks that all succeed
            calls += extra
            errors += extra if failing else 0
            durations += list((base_ms + slow) * rng.lognormal(0.0, 0.25, extra))
            if calls == 0:
                continue
            rate = errors / calls
            self.success[tool].append((t, 1.0 - rate))
            lat = sorted(durations)[len(durations) // 2]
            self.confidence[tool] = 0.8 * self.confidence[tool] + 0.2 * (1.0 - rate)
            labels = {"tool": tool}
            hub.record("tool.calls", float(calls), labels, now)
            hub.record("tool.error_rate", rate, labels, now)
            hub.record("tool.latency_ms", lat, labels, now)
            hub.record("tool.confidence", self.confidence[tool], labels, now)
        if int(t) % 2 == 0:
            creep = f["memory_creep"]
            if creep.broken(t):
                self.rss += 1.0
            self.rss += float(rng.normal(0.0, 0.02))
            self.cpu = 35.0 + 0.8 * (self.cpu - 35.0) + float(rng.normal(0.0, 5.0))
            hub.record("agent.rss_mb", self.rss, {"agent": "a1", "role": "analyzer"}, now)
            hub.record("host.cpu_percent", min(100.0, max(0.0, self.cpu)), None, now)
            hub.record("host.memory_percent", 61.0 + float(rng.normal(0.0, 0.2)), None, now)
            hub.record("process.rss_mb", 150.0 + float(rng.normal(0.0, 0.3)), None, now)


async def simulate(seed: int, seconds: int, faults: list[Fault], db_path: Path) -> list[dict]:
    db = Database(db_path)
    await db.open()
    try:
        now = [T0]
        hub = MetricsHub(EventBus(), db, clock=lambda: now[0])
        streams = Streams(np.random.default_rng(seed), faults)
        for i in range(seconds):
            t = T0 + i
            now[0] = t
            streams.second(hub, t)
            if i % 5 == 4:
                await hub.flush()
                await hub.incidents.tick(t, hub.engine)
        await hub.flush()
        rows = await hub.incidents.list(limit=10_000)
        return [
            {
                "subject": r.subject,
                "opened": r.opened_at - T0,
                "resolved": None if r.resolved_at is None else r.resolved_at - T0,
                "metrics": r.metrics,
            }
            for r in rows
        ], streams.success
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="list every incident")
    args = parser.parse_args(argv)
    verbose = args.verbose
    with tempfile.TemporaryDirectory() as tmp:
        # 1. Schedule off: 30 minutes of warm-up, then 30 minutes counted.
        quiet, _ = asyncio.run(simulate(args.seed, 3600, make_faults(), Path(tmp) / "off.db"))
        counted = [r for r in quiet if r["opened"] >= 1800]
        early = [r for r in quiet if r["opened"] < 1800]
        print(f"== fault schedule off, first 30 min (cold start): {len(early)} incidents")
        for r in early:
            print(f"    {r['subject']} at +{r['opened']:.0f} s on {', '.join(r['metrics'])}")
        per_tool_hour = len(counted) / (len(TOOLS) * 0.5)
        print("== fault schedule off: 30 min counted after 30 min of warm-up")
        print(f"  incidents opened: {len(counted)}  ({per_tool_hour:.2f} per tool-hour)")
        for r in counted:
            at = r["opened"] - 1800
            print(f"    {r['subject']} at +{at:.0f} s on {', '.join(r['metrics'])}")
        # 2. Schedule on: each fault once.
        faults = make_faults()
        t = 1800.0
        for f in faults:
            f.start, f.fixed = t, t + (20.0 if f.name == "error_burst" else FIX_AFTER_S)
            f.stop = f.fixed + 30.0
            t = f.stop + GAP_S
        total = int(t + 300)
        found, success = asyncio.run(simulate(args.seed, total, faults, Path(tmp) / "on.db"))
    print("\n== fault schedule on (simulated fix 180 s after each start; burst 20 s)")
    print(
        "| fault | incidents for its subject | other incidents meanwhile | raised after start (s) "
        "| success < 90% after start (s) | resolved after recovery (s) | its metrics |"
    )
    print("|---|---|---|---|---|---|---|")
    for k, f in enumerate(faults):
        end = f.stop + 120
        until = min(end, faults[k + 1].start - 5) if k + 1 < len(faults) else end
        window = [r for r in found if f.start - 5 <= r["opened"] <= until]
        # the fault's incidents: those its subject took part in (it may have folded
        # into the incident of the tool whose calls surged with it)
        own = [r for r in window if f.subject in {subject_of(m) for m in r["metrics"]}]
        other = [r for r in window if r not in own]
        raised = f"{own[-1]['opened'] - f.start:.0f}" if own else "never"
        below = next((s for s, ok in success[f.tool] if s >= f.start and ok < 0.9), None)
        below_txt = "never" if below is None else f"{below - f.start:.0f}"
        if own and own[-1]["resolved"] is not None:
            back = own[-1]["resolved"] - f.fixed
            resolved = f"{back:.0f}"
        else:
            resolved = "still open"
        others = ", ".join(sorted({r["subject"] for r in other})) or "-"
        metrics = ", ".join(own[-1]["metrics"]) if own else "-"
        print(
            f"| {f.name} | {len(own)} | {len(other)} ({others}) | {raised} | {below_txt} "
            f"| {resolved} | {metrics} |"
        )
    if verbose:
        for r in found:
            closed = "open" if r["resolved"] is None else f"resolved +{r['resolved']:.0f}"
            print(f"  {r['subject']} +{r['opened']:.0f} {closed} {', '.join(r['metrics'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
