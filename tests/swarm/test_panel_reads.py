"""What the console's Swarm panel reads: agents' CPU, memory and heartbeat age, each
agent's vote on a redundant task, and the dependencies of graph tasks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from chimera_engine.node import HeartNode
from chimera_engine.security.guard import Guard
from chimera_engine.swarm.ballots import (
    AGREED,
    DISSENT,
    UNDECIDED,
    ConsensusRecord,
    ballots_json,
)
from chimera_engine.swarm.consensus import ConsensusEngine, Vote
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.decomposer import Job
from chimera_engine.swarm.models import (
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
    TaskState,
)
from chimera_engine.swarm.resources import ProcessSampler
from chimera_engine.swarm.service import SwarmService
from tests.swarm.conftest import OPERATOR
from tests.swarm.test_ops import PASSWORD


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sampler_measures_a_busy_process_at_most_once_per_interval() -> None:
    clock = Clock()
    sampler = ProcessSampler(interval=1.0, clock=clock)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        assert sampler.refresh([busy.pid, os.getpid()])
        first = sampler.usage(busy.pid)
        assert first is not None and first.rss_bytes > 0 and first.cpu_percent is None
        time.sleep(0.6)
        clock.now += 0.5
        assert not sampler.refresh([busy.pid])  # within the interval: nothing read
        assert sampler.usage(busy.pid) == first and sampler.samples == 1
        clock.now += 0.5
        assert sampler.refresh([busy.pid])  # os.getpid() is no longer listed: forgotten
        second = sampler.usage(busy.pid)
        assert second is not None and second.cpu_percent is not None
        # a spinning interpreter: about 60 % of the clock's second on an idle machine (it
        # ran for 0.6 s of it); an idle process reads near 0, a loaded machine in between
        assert second.cpu_percent > 10.0
        assert sampler.usage(os.getpid()) is None
    finally:
        busy.kill()
        busy.wait()
    clock.now += 1.0
    assert sampler.refresh([busy.pid])  # a process that is gone is dropped, not raised
    assert sampler.usage(busy.pid) is None and sampler.usage(None) is None


async def test_local_agents_report_cpu_memory_and_heartbeat_age(
    swarm: SwarmCoordinator,
) -> None:
    agent = await swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR)
    (first,) = [a for a in swarm.agents() if a.id == agent.id]
    assert first.rss_bytes > 5_000_000 and first.cpu_percent is None  # primed, no rate yet
    samples = swarm.backend.sampler.samples  # type: ignore[attr-defined]
    for _ in range(50):
        swarm.agents()
    assert swarm.backend.sampler.samples == samples  # type: ignore[attr-defined]
    await asyncio.sleep(1.05)
    (later,) = [a for a in swarm.agents() if a.id == agent.id]
    assert later.cpu_percent is not None and 0.0 <= later.cpu_percent < 100.0
    age = later.heartbeat_age(time.time())
    assert age is not None and age < 1.0  # heartbeats every 0.2 s in these tests
    stopped = await swarm.stop_agent(agent.id, OPERATOR, kill=True)
    assert stopped.cpu_percent is None and stopped.state.final


async def test_votes_of_a_redundant_task(node: HeartNode, swarm: SwarmCoordinator) -> None:
    admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
    ops = SwarmService(Guard(lambda: node.security), lambda: swarm)
    honest = await asyncio.gather(
        *(swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR) for _ in range(2))
    )
    liar = await swarm.spawn_agent(
        AgentSpec(concurrency=1, env={"SWARM_TEST_MODE": "wrong"}), OPERATOR
    )
    majority = ConsensusPolicy(method=ConsensusMethod.MAJORITY)
    info = await swarm.run(
        Task(tool="flavoured", inputs={"x": 4}, redundancy=3, consensus=majority), OPERATOR, 15
    )
    assert info.state is TaskState.SUCCEEDED and info.result == 40

    record = await ops.votes(admin, info.id)
    assert record is not None and record.agreed and record.value == 40
    assert (record.method, record.votes, record.expected) == ("majority", 3, 3)
    by_agent = {b.agent: b for b in record.ballots}
    assert set(by_agent) == {liar.id, *(h.id for h in honest)}
    assert (by_agent[liar.id].value, by_agent[liar.id].verdict) == (5, DISSENT)
    assert all(by_agent[h.id].value == 40 and by_agent[h.id].verdict == AGREED for h in honest)
    assert all(b.weight == 1.0 and b.confidence == 1.0 and b.known for b in record.ballots)

    # the same after a restart of the coordinator's memory: read back from the store
    stored = await swarm.history(limit=1)
    assert ConsensusRecord.from_outcome(info.id, stored[0].consensus or {}) == record

    # one honest agent and the liar left: two replicas that disagree make a tie
    await swarm.stop_agent(honest[0].id, OPERATOR)
    tie = await swarm.run(
        Task(tool="flavoured", inputs={"x": 1}, redundancy=2, consensus=majority), OPERATOR, 15
    )
    decided = await ops.votes(admin, tie.id)
    assert decided is not None and decided.status == "tie" and decided.value is None
    assert {b.verdict for b in decided.ballots} == {UNDECIDED}
    assert sorted(decided.tied) == [2, 10] and tie.error_code == "tie"
    plain = await swarm.run(Task(tool="add", inputs={"a": 1, "b": 1}), OPERATOR, 10)
    assert await ops.votes(admin, plain.id) is None


def test_weighted_ballots_carry_their_weight_and_large_values_a_preview() -> None:
    votes = [
        Vote("a", [1] * 1000, confidence=1.0, reputation=0.8),
        Vote("b", [1] * 1000, confidence=0.5, reputation=0.6),
        Vote("c", [2], confidence=0.9, reputation=0.5),
    ]
    policy = ConsensusPolicy(method=ConsensusMethod.WEIGHTED)
    outcome = ConsensusEngine().decide(votes, policy)
    record = ConsensusRecord.from_outcome(
        "t", {**outcome.to_json(), "ballots": ballots_json(votes, outcome)}
    )
    a, b, c = record.ballots
    assert (a.weight, b.weight, c.weight) == (0.8, 0.3, 0.45)
    assert a.value is None and a.preview.startswith("[1, 1") and a.verdict == AGREED
    assert c.value == [2] and c.preview == "" and c.verdict == DISSENT


def test_outcomes_recorded_without_ballots_still_name_who_agreed() -> None:
    old = {
        "status": "agreed",
        "method": "majority",
        "value": 3,
        "winners": ["x", "y"],
        "dissenters": ["z"],
        "votes": 3,
        "expected": 3,
        "support": 0.67,
    }
    record = ConsensusRecord.from_outcome("t", old)
    assert [(b.agent, b.verdict, b.known) for b in record.ballots] == [
        ("x", AGREED, False),
        ("y", AGREED, False),
        ("z", DISSENT, False),
    ]


async def test_graph_tasks_name_their_dependencies(
    node: HeartNode, swarm: SwarmCoordinator
) -> None:
    admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
    ops = SwarmService(Guard(lambda: node.security), lambda: swarm)
    await swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR)
    graph = await ops.submit_job(
        admin,
        Job(
            tool="count",
            inputs={"rows": [1, 2, 3, 4]},
            map_over="rows",
            chunk_size=2,
            aggregate="total",
        ),
    )
    await swarm.wait_graph(graph, 15)
    tasks = await ops.history(admin, graph_id=graph.id, limit=10)
    by_tool: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for t in tasks:
        by_tool.setdefault(t.tool or "", []).append((t.id, t.depends_on))
    chunks = {tid for tid, deps in by_tool["count"] if deps == ()}
    ((_, total_deps),) = by_tool["total"]
    assert len(chunks) == 2 and set(total_deps) == chunks
