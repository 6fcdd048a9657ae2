"""Faults and bad input: kill -9 under load, hung agents, tools that raise, never return or
kill their agent, inputs that do not fit, deadlines, cancellation. Nothing is lost and no
result is recorded twice."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.node import HeartNode
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.events import AgentChanged, TaskQuarantined
from chimera_engine.swarm.models import AgentSpec, AgentState, Task, TaskState
from tests.swarm.conftest import OPERATOR


async def until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_kill_9_under_load_loses_nothing(swarm: SwarmCoordinator) -> None:
    agents = await asyncio.gather(
        *(swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR) for _ in range(3))
    )
    infos = await swarm.submit_many(
        [
            Task(tool="nap", inputs={"seconds": 0.004}, idempotency_key=f"load-{i}")
            for i in range(400)
        ],
        OPERATOR,
    )
    await until(lambda: swarm.completed >= 60)
    victim = agents[0]
    assert victim.pid is not None
    os.kill(victim.pid, signal.SIGKILL)
    done = await asyncio.wait_for(asyncio.gather(*(swarm.wait(i.id) for i in infos)), 30)
    assert all(d.state is TaskState.SUCCEEDED for d in done)
    await swarm.store.flush()
    assert await swarm.store.count_results([i.id for i in infos]) == 400
    lost = [
        a
        for i in infos
        for a in await swarm.store.attempts_of(i.id)
        if a["outcome"] == "agent_lost"
    ]
    assert lost and all("killed by signal 9" in a["error"] for a in lost)
    assert all(a["agent"] == victim.id for a in lost)
    states = {a.id: a.state for a in swarm.agents()}
    assert states[victim.id] is AgentState.DEAD
    await until(lambda: swarm.respawns == 1)  # replaced
    assert sum(1 for a in swarm.agents() if a.state is AgentState.READY) == 3


async def test_poisoned_task_is_quarantined_not_the_swarm(
    swarm: SwarmCoordinator, node: HeartNode
) -> None:
    events = node.bus.subscribe(TaskQuarantined)
    await asyncio.gather(*(swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR) for _ in range(2)))
    poison = await swarm.submit(Task(tool="die"), OPERATOR)
    normal = await swarm.submit_many(
        [Task(tool="add", inputs={"a": i, "b": 1}) for i in range(20)], OPERATOR
    )
    final = await swarm.wait(poison.id, 20)
    assert final.state is TaskState.QUARANTINED and final.error_code == "quarantined"
    assert final.crashes == 3 and "killed by signal 9" in final.error
    assert (await asyncio.wait_for(events.get(), 2)).task_id == poison.id  # type: ignore[attr-defined]
    done = [await swarm.wait(i.id, 20) for i in normal]
    assert [d.result for d in done] == [i + 1 for i in range(20)]
    await until(lambda: sum(1 for a in swarm.agents() if a.state is AgentState.READY) == 2)
    entries = await node.security.audit.query(AuditQuery(action_prefix="swarm.task.quar"))
    assert entries and entries[0].target == poison.id


async def test_hung_agent_is_detected_by_missing_heartbeats(make_swarm, node: HeartNode) -> None:  # type: ignore[no-untyped-def]
    swarm = make_swarm(heartbeat_interval=0.1, heartbeat_timeout=0.8)
    await swarm.start()
    try:
        changes = node.bus.subscribe(AgentChanged)
        await swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR)
        hung = await swarm.submit(Task(tool="block_loop", max_attempts=1), OPERATOR)
        final = await swarm.wait(hung.id, 10)
        assert final.state is TaskState.QUARANTINED and "no heartbeat" in final.error
        await until(lambda: swarm.respawns == 1)
        seen = []
        while len(changes):
            seen.append(changes.get_nowait().change)  # type: ignore[union-attr]
        assert "hung" in seen and "respawned" in seen
        ok = await swarm.run(Task(tool="add", inputs={"a": 2, "b": 2}), OPERATOR, 10)
        assert ok.result == 4  # the replacement works
    finally:
        await swarm.stop()


async def test_tool_that_raises_or_never_returns(swarm: SwarmCoordinator) -> None:
    await asyncio.gather(*(swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR) for _ in range(2)))
    failed = await swarm.run(
        Task(tool="boom", inputs={"message": "bad row 7"}, retries=1), OPERATOR, 10
    )
    assert failed.state is TaskState.FAILED and failed.error_code == "tool_error"
    assert failed.error == "ValueError: bad row 7" and failed.attempts == 2
    slow = await swarm.run(Task(tool="hang", timeout=0.3), OPERATOR, 10)
    assert slow.state is TaskState.FAILED and slow.error_code == "timeout"
    assert "within 0.3 s" in slow.error
    # its thread is stuck for good: that agent is recycled and replaced
    await until(lambda: swarm.respawns == 1)
    unjson = await swarm.run(Task(tool="unjsonable"), OPERATOR, 10)
    assert unjson.error_code == "not_json" and "JSON" in unjson.error
    asynchronous = await swarm.run(Task(tool="async_echo", inputs={"x": [1, "a"]}), OPERATOR, 10)
    assert asynchronous.result == [1, "a"]
    answered = await swarm.run(Task(prompt="why?", role="executor"), OPERATOR, 10)
    assert answered.result == "answered: why?"


async def test_inputs_that_do_not_match_the_signature(swarm: SwarmCoordinator) -> None:
    await swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR)
    with pytest.raises(ValidationError, match="do not match add"):
        await swarm.submit(Task(tool="add", inputs={"a": 1}), OPERATOR)
    with pytest.raises(ValidationError, match="'b' of add must be int, got str"):
        await swarm.submit(Task(tool="add", inputs={"a": 1, "b": "2"}), OPERATOR)
    with pytest.raises(NotFoundError, match="no_such_tool"):
        await swarm.submit(Task(tool="no_such_tool"), OPERATOR)
    with pytest.raises(ValidationError, match="unknown dependencies: ghost"):
        await swarm.submit(Task(tool="echo", depends_on=("ghost",)), OPERATOR)
    with pytest.raises(ValidationError, match="JSON"):
        await swarm.submit(Task(tool="echo", inputs={"x": {1, 2}}), OPERATOR)
    with pytest.raises(ValidationError, match="exactly one"):
        await swarm.submit(Task(tool="echo", prompt="and a prompt"), OPERATOR)
    with pytest.raises(ValidationError, match="cycle"):
        await swarm.submit_many(
            [
                Task(id="p", tool="echo", depends_on=("q",)),
                Task(id="q", tool="echo", depends_on=("p",)),
            ],
            OPERATOR,
        )
    # known only after a dependency ran: the wrong type fails that task, clearly
    text = await swarm.run(Task(tool="echo", inputs={"x": "text"}), OPERATOR, 10)
    bad = await swarm.run(Task(tool="twice", inputs={"x": {"$ref": text.id}}), OPERATOR, 10)
    assert bad.state is TaskState.FAILED and bad.error_code == "invalid_input"
    assert "must be int, got str" in bad.error
    assert swarm.stats().unfinished == 0  # nothing left behind


async def test_idempotency_keys_record_one_result(swarm: SwarmCoordinator) -> None:
    await swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR)
    first = await swarm.run(
        Task(tool="add", inputs={"a": 1, "b": 1}, idempotency_key="k1"), OPERATOR, 10
    )
    again = await swarm.submit(
        Task(tool="add", inputs={"a": 5, "b": 5}, idempotency_key="k1"), OPERATOR
    )
    assert again.duplicate and again.id == first.id and again.result == 2
    both = await swarm.submit_many(
        [
            Task(tool="add", inputs={"a": 1, "b": 2}, idempotency_key="k2"),
            Task(tool="add", inputs={"a": 1, "b": 2}, idempotency_key="k2"),
        ],
        OPERATOR,
    )
    assert both[1].duplicate and both[1].id == both[0].id
    done = await swarm.wait(both[0].id, 10)
    # a late reply for an attempt already decided is ignored, not recorded again
    from chimera_engine.swarm.backend import Attempt

    ref = swarm.tools.resolve("add", None)
    late = Attempt(
        id=f"{done.id}#1",
        task_id=done.id,
        replica=0,
        ref=ref,
        inputs={},
        timeout=1.0,
        role="executor",
        requires=frozenset(),
        priority=0,
        agent=done.agent,
    )
    swarm.on_done(late, {"ok": True, "value": 999})
    assert swarm.late_replies == 1
    await swarm.store.flush()
    assert await swarm.store.count_results([first.id, done.id]) == 2
    assert (await swarm.task(done.id)).result == 3
    with pytest.raises(ValidationError, match="already used"):
        await swarm.submit(Task(id=first.id, tool="echo", idempotency_key="other"), OPERATOR)


async def test_deadlines_and_cancellation(swarm: SwarmCoordinator) -> None:
    loop_time = asyncio.get_running_loop().time
    import time

    nobody = await swarm.submit(
        Task(tool="echo", role="tester", deadline=time.time() + 0.3), OPERATOR
    )
    cancelled = await swarm.submit(Task(tool="echo", role="tester"), OPERATOR)
    start = loop_time()
    out = await swarm.cancel(cancelled.id, OPERATOR)
    assert out.state is TaskState.CANCELLED and "cancelled by" in out.error
    missed = await swarm.wait(nobody.id, 5)
    assert missed.state is TaskState.FAILED and missed.error_code == "deadline"
    assert loop_time() - start < 2
    # cancelling a finished task changes nothing
    assert (await swarm.cancel(cancelled.id, OPERATOR)).state is TaskState.CANCELLED


async def test_a_stalled_host_loop_does_not_make_healthy_agents_hung(  # type: ignore[no-untyped-def]
    make_swarm, node: HeartNode
) -> None:
    """The host's own loop blocks longer than the heartbeat timeout (a GUI building a
    window, say): the heartbeats wait unread in the pipe, the agents are fine."""
    swarm = make_swarm(heartbeat_interval=0.1, heartbeat_timeout=0.8)
    await swarm.start()
    try:
        changes = node.bus.subscribe(AgentChanged)
        await swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR)
        await asyncio.sleep(0.3)
        time.sleep(2.0)  # noqa: ASYNC251 - the host stalls: 2.5 x the heartbeat timeout
        await asyncio.sleep(0.6)  # under the timeout of listening again
        seen = []
        while len(changes):
            seen.append(changes.get_nowait().change)  # type: ignore[union-attr]
        assert "hung" not in seen and swarm.respawns == 0
        ok = await swarm.run(Task(tool="add", inputs={"a": 2, "b": 3}), OPERATOR, 10)
        assert ok.result == 5
    finally:
        await swarm.stop()
