"""Swarm figures: spawn-to-ready, dispatch round trip, throughput, idle RSS, consensus cost,
and a soak (tasks of 20 ms work at 500 a second) that kills an agent every 2 s.

Run: ``.venv/bin/python benchmarks/bench_swarm.py`` (``--soak-tasks N`` to change the
soak's size). The Dask section (:mod:`bench_swarm_dask`, when ``distributed`` is
installed) follows in the same process: local against Dask throughput on 1,000
trivial tasks, and a soak with worker kills and a scheduler restart; ``--only
local|dask`` runs one section. A real engine on a temporary data directory (SQLite in WAL mode with
``synchronous=FULL``), a real workspace tool, real agent processes. Medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _startup import engine_settings
from _util import per_call_us, report
from bench_swarm_dask import dask_section, submit_stream

from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.consensus import ConsensusEngine, Vote
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.credentials import ApiKeyNodeCredentials
from chimera_engine.swarm.models import (
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
    TaskState,
)
from chimera_engine.swarm.settings import SwarmSettings
from chimera_engine.swarm.store import SwarmStore
from chimera_engine.swarm.tools import RegistryToolSource

TOOLS = """
import time

from chimera_engine.tooling import tool

@tool(name="echo")
def echo(x: int = 0, work_ms: float = 0.0) -> int:
    if work_ms:
        time.sleep(work_ms / 1000)
    return x
"""
WHO = Principal.system("bench")


def build(root: Path) -> tuple[HeartNode, SwarmCoordinator]:
    (root / "ws" / "tools").mkdir(parents=True)
    (root / "ws" / "tools" / "benchtools.py").write_text(TOOLS)
    settings = engine_settings(
        root / "data",
        env={
            "CHIMERA_API__ENABLED": "false",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_SWARM__ENABLED": "false",
        },
        workspace=root / "ws",
    )
    node = HeartNode(settings)
    return node, SwarmCoordinator.__new__(SwarmCoordinator)


def coordinator(node: HeartNode, **overrides: object) -> SwarmCoordinator:
    settings = SwarmSettings(max_agents=16, respawn_per_minute=100, **overrides)  # type: ignore[arg-type]
    return SwarmCoordinator(
        store=SwarmStore(node.db),
        tools=RegistryToolSource(node.reload.registry),
        audit=node.security.audit,
        bus=node.bus,
        credentials=ApiKeyNodeCredentials(node.security.api_keys),
        settings=settings,
    )


async def stop_all(swarm: SwarmCoordinator) -> None:
    for agent in swarm.agents():
        if not agent.state.final:
            await swarm.stop_agent(agent.id, WHO, kill=True)


async def spawn_to_ready(swarm: SwarmCoordinator, n: int = 12) -> None:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        info = await swarm.spawn_agent(AgentSpec(concurrency=1), WHO)
        times.append((time.perf_counter() - start) * 1e3)
        await swarm.stop_agent(info.id, WHO, kill=True)
    report("agent spawn -> ready, median", statistics.median(times), "ms", "<= 300 ms")


async def round_trip(swarm: SwarmCoordinator, n: int = 300) -> None:
    await swarm.spawn_agent(AgentSpec(concurrency=1), WHO)
    for i in range(20):  # warm up: the tool version is shipped once
        await swarm.run(Task(tool="echo", inputs={"x": i}), WHO)
    swarm.round_trips.clear()
    end_to_end = []
    for i in range(n):
        start = time.perf_counter()
        await swarm.run(Task(tool="echo", inputs={"x": i}), WHO)
        end_to_end.append((time.perf_counter() - start) * 1e3)
    stats = swarm.stats()
    report("dispatch round trip (trivial task), median", stats.round_trip_p50_ms, "ms", "<= 1 ms")
    report("dispatch round trip, p99", stats.round_trip_p99_ms, "ms")
    report("submit -> result committed, median", statistics.median(end_to_end), "ms")
    print("  (end to end includes two durable SQLite commits, synchronous=FULL)")
    await stop_all(swarm)


async def throughput(swarm: SwarmCoordinator, n: int = 20_000, batch: int = 500) -> None:
    await asyncio.gather(*(swarm.spawn_agent(AgentSpec(concurrency=4), WHO) for _ in range(4)))
    await swarm.run(Task(tool="echo"), WHO)
    start = time.perf_counter()
    waits: list[asyncio.Future[object]] = []
    for offset in range(0, n, batch):
        infos = await swarm.submit_many(
            [Task(tool="echo", inputs={"x": offset + i}) for i in range(batch)], WHO
        )
        waits.extend(asyncio.ensure_future(swarm.wait(i.id)) for i in infos)
    await asyncio.gather(*waits)
    elapsed = time.perf_counter() - start
    report(f"throughput, 4 agents, {n} trivial tasks", n / elapsed, "tasks/s", ">= 2,000/s")
    await asyncio.sleep(1.5)  # idle: let heartbeats report memory
    rss = [a.rss_bytes / 2**20 for a in swarm.agents() if not a.state.final]
    report("RSS per idle agent, median", statistics.median(rss), "MB", "<= 40 MB")
    await stop_all(swarm)


def consensus_cost() -> None:
    engine = ConsensusEngine()
    votes = [Vote(f"a{i}", 42 if i < 7 else 41, 0.9, 0.8) for i in range(10)]
    for method in (ConsensusMethod.MAJORITY, ConsensusMethod.WEIGHTED):
        policy = ConsensusPolicy(method=method)
        median, _ = per_call_us(lambda p=policy: engine.decide(votes, p), number=2000)  # type: ignore[misc]
        report(f"consensus of 10 votes ({method.value}), median", median, "us", "<= 50 us")


async def soak(swarm: SwarmCoordinator, n: int) -> None:
    agents = await asyncio.gather(
        *(swarm.spawn_agent(AgentSpec(concurrency=4), WHO) for _ in range(4))
    )
    del agents
    kills = 0

    async def killer() -> None:
        nonlocal kills
        while True:
            await asyncio.sleep(2.0)
            live = [a for a in swarm.agents() if a.state.value == "ready" and a.pid]
            if live:
                os.kill(live[kills % len(live)].pid or 0, signal.SIGKILL)
                kills += 1

    murderer = asyncio.get_running_loop().create_task(killer())
    start = time.perf_counter()
    ids, done = await submit_stream(swarm, n, "soak")  # ~500 tasks/s of 20 ms (~60% busy)
    elapsed = time.perf_counter() - start
    murderer.cancel()
    await swarm.store.flush()
    succeeded = sum(1 for d in done if d.state is TaskState.SUCCEEDED)
    recorded = await swarm.store.count_results(ids)
    wrong = sum(1 for i, d in enumerate(done) if d.result != i)
    lost = n - succeeded
    duplicated = recorded - succeeded
    lost_attempts = (await swarm.store.attempt_outcomes()).get("agent_lost", 0)
    print(
        f"soak: {n} tasks in {elapsed:.1f} s, {kills} agents killed (kill -9 every 2 s), "
        f"{swarm.respawns} respawned, {lost_attempts} attempts lost with their agent and "
        f"reassigned, {swarm.late_replies} late replies ignored"
    )
    report("soak: tasks lost", lost, "", "0")
    report("soak: results recorded twice", duplicated, "", "0")
    report("soak: wrong results", wrong, "", "0")
    await stop_all(swarm)


async def main(soak_tasks: int, dask_soak_tasks: int, only: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node, _ = build(Path(tmp))
        await node.start()
        try:
            if only in ("", "local"):
                swarm = coordinator(node)
                await swarm.start()
                try:
                    await spawn_to_ready(swarm)
                    await round_trip(swarm)
                    await throughput(swarm)
                    consensus_cost()
                    await soak(swarm, soak_tasks)
                finally:
                    await swarm.stop()
            if only in ("", "dask"):
                await dask_section(node, coordinator, Path(tmp), dask_soak_tasks)
        finally:
            await node.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--soak-tasks", type=int, default=10_000)
    parser.add_argument("--dask-soak-tasks", type=int, default=5_000)
    parser.add_argument("--only", choices=["local", "dask"], default="", help="one section")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    asyncio.run(main(args.soak_tasks, args.dask_soak_tasks, args.only))
