"""Scheduling: by role, load and reputation; slow and failing agents get less work,
never all of it; priorities; reputation from consensus."""

from __future__ import annotations

import asyncio
from collections import Counter

from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.models import (
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
    TaskState,
)
from chimera_engine.swarm.reputation import Reputation, pick
from tests.swarm.conftest import OPERATOR


async def attempts_by_agent(swarm: SwarmCoordinator, task_ids: list[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for tid in task_ids:
        for attempt in await swarm.store.attempts_of(tid):
            counts[attempt["agent"]] += 1
    return counts


async def test_load_balancing(swarm: SwarmCoordinator) -> None:
    fast, slow, broken = await asyncio.gather(
        swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR),
        swarm.spawn_agent(AgentSpec(concurrency=1, env={"SWARM_TEST_MODE": "slow"}), OPERATOR),
        swarm.spawn_agent(AgentSpec(concurrency=1, env={"SWARM_TEST_MODE": "fail"}), OPERATOR),
    )
    tasks = [Task(tool="flavoured", inputs={"x": i}, retries=2) for i in range(150)]
    infos = await swarm.submit_many(tasks, OPERATOR)
    done = await asyncio.wait_for(asyncio.gather(*(swarm.wait(i.id) for i in infos)), 30)
    assert all(d.state is TaskState.SUCCEEDED for d in done)
    assert [d.result for d in done] == [i * 10 for i in range(150)]  # retried elsewhere
    await swarm.store.flush()
    counts = await attempts_by_agent(swarm, [i.id for i in infos])
    total = sum(counts.values())
    # the fast agent does most; the slow and the broken one get less, but not nothing
    assert counts[fast.id] > counts[slow.id] > 0
    assert counts[fast.id] > counts[broken.id] > 0
    assert max(counts.values()) < total
    reputation = {a.id: a.reputation for a in swarm.agents()}
    assert reputation[fast.id] > reputation[slow.id] > reputation[broken.id]
    assert reputation[broken.id] < 0.4


async def test_roles_and_priorities(swarm: SwarmCoordinator) -> None:
    # tasks for a role nobody serves wait as pending; they run once such an agent exists
    waiting = await swarm.submit(Task(tool="whoami", role="reviewer"), OPERATOR)
    await asyncio.sleep(0.2)
    assert (await swarm.task(waiting.id)).state is TaskState.PENDING
    reviewer = await swarm.spawn_agent(AgentSpec(role="reviewer", concurrency=1), OPERATOR)
    assert (await swarm.wait(waiting.id, 5)).result == reviewer.id

    # higher priority first once an agent frees up
    executor = await swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR)
    blocker = await swarm.submit(Task(tool="nap", inputs={"seconds": 0.3}), OPERATOR)
    await asyncio.sleep(0.05)
    low = await swarm.submit_many(
        [Task(tool="nap", inputs={"seconds": 0.0}, priority=0) for _ in range(4)], OPERATOR
    )
    high = await swarm.submit(Task(tool="nap", inputs={"seconds": 0.0}, priority=10), OPERATOR)
    for info in (blocker, high, *low):
        await swarm.wait(info.id, 10)
    finished = {i.id: (await swarm.task(i.id)).finished_at for i in (high, *low)}
    queued_low = [finished[i.id] for i in low[2:]]  # beyond the agent's prefetch
    assert all(finished[high.id] <= f for f in queued_low)  # type: ignore[operator]
    assert executor.id


async def test_reputation_follows_consensus(swarm: SwarmCoordinator) -> None:
    honest = await asyncio.gather(
        *(swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR) for _ in range(2))
    )
    liar = await swarm.spawn_agent(
        AgentSpec(concurrency=1, env={"SWARM_TEST_MODE": "wrong"}), OPERATOR
    )
    policy = ConsensusPolicy(method=ConsensusMethod.MAJORITY)
    infos = await swarm.submit_many(
        [Task(tool="flavoured", inputs={"x": i}, redundancy=3, consensus=policy) for i in range(6)],
        OPERATOR,
    )
    done = [await swarm.wait(i.id, 15) for i in infos]
    assert all(
        d.result == i * 10 and d.consensus["dissenters"] == [liar.id]  # type: ignore[index]
        for i, d in enumerate(done)
    )
    reputation = {a.id: a.reputation for a in swarm.agents()}
    assert reputation[liar.id] < 0.35 < 0.6 < min(reputation[h.id] for h in honest)


def test_pick_prefers_reputation_and_free_slots() -> None:
    class A:
        def __init__(self, id: str, capacity: int, load: int, rep: float) -> None:
            self.id, self.capacity, self.load = id, capacity, load
            self.reputation_book = Reputation(rep)

    good, busy, bad = A("good", 4, 1, 0.9), A("busy", 4, 4, 1.0), A("bad", 4, 0, 0.05)
    assert pick([bad, busy, good]) is good
    assert pick([bad, busy]) is bad  # the only one with room still gets work
    assert pick([good, bad], exclude=frozenset({"good"})) is bad
    bad.reputation_book.failure(now=100.0)
    assert pick([bad], now=100.01) is None and pick([bad], now=200.0) is bad
