"""Persistence and versions: history survives a restart, unfinished tasks resume, and a
hot reload reaches running agents without restarting them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chimera_engine.audit.store import AuditQuery
from chimera_engine.node import HeartNode
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.graph import TaskGraph
from chimera_engine.swarm.models import AgentSpec, Task, TaskState
from tests.swarm.conftest import OPERATOR, coordinator, engine, fast_settings

VERSIONED = """
from chimera_engine.tooling import tool

from .helpers import double

@tool(name="which")
def which(x: int = 1) -> str:
    return "v{n}:" + str(double(x))
"""


async def test_restart_shows_history_and_resumes_unfinished(
    tmp_path: Path, workspace: Path
) -> None:
    data = tmp_path / "data"
    node = engine(data, workspace)
    await node.start()
    swarm = coordinator(node, fast_settings(respawn=False))
    await swarm.start()
    await swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR)
    finished = [
        await swarm.run(Task(tool="add", inputs={"a": i, "b": 1}), OPERATOR, 10) for i in range(3)
    ]
    graph = TaskGraph()
    first = graph.add(Task(id="first", tool="add", inputs={"a": 20, "b": 1}))
    graph.add(Task(id="second", tool="twice", role="tester", inputs={"x": {"$ref": first.id}}))
    await swarm.submit_graph(graph, OPERATOR)
    await swarm.wait("first", 10)
    pending = await swarm.submit_many(
        [
            Task(tool="add", role="tester", inputs={"a": i, "b": 0}, idempotency_key=f"resume-{i}")
            for i in range(4)
        ],
        OPERATOR,
    )
    await swarm.stop()
    # as if the coordinator had died while one of them was running on an agent
    await node.db.write(
        lambda c: c.execute(
            "UPDATE swarm_tasks SET state = 'running', agent = 'gone' WHERE id = ?",
            (pending[0].id,),
        )
    )
    earlier = (f"{pending[0].id}#1", pending[0].id, 0, "gone", 1, "agent_lost", "before", 1.0, 2.0)
    await node.db.write(
        lambda c: c.execute(
            "INSERT INTO swarm_attempts(id, task_id, replica, agent, tool_version, outcome, "
            "error, started_at, ended_at) VALUES (?,?,?,?,?,?,?,?,?)",
            earlier,
        )
    )
    await node.stop()

    node = engine(data, workspace)
    await node.start()
    swarm = coordinator(node, fast_settings(respawn=False))
    try:
        await swarm.start()
        history = await swarm.history(limit=50)
        by_id = {h.id: h for h in history}
        assert all(
            by_id[f.id].state is TaskState.SUCCEEDED and by_id[f.id].result == f.result
            for f in finished
        )
        assert swarm.stats().unfinished == 5
        assert (await swarm.task(pending[0].id)).state is TaskState.REASSIGNED
        # resubmitting a key that is already known does not duplicate it
        again = await swarm.submit(
            Task(tool="add", role="tester", inputs={"a": 0, "b": 0}, idempotency_key="resume-0"),
            OPERATOR,
        )
        assert again.duplicate and again.id == pending[0].id
        await swarm.spawn_agent(AgentSpec(role="tester", concurrency=2), OPERATOR)
        done = [await swarm.wait(p.id, 10) for p in pending]
        assert [d.result for d in done] == [0, 1, 2, 3]
        second = await swarm.wait("second", 10)
        assert second.result == 42  # its dependency's result came from the store
        await swarm.store.flush()
        assert await swarm.store.count_results([p.id for p in pending]) == 4
        rows = await swarm.store.attempts_of(pending[0].id)  # the resumed attempt has a new id
        assert rows[0]["id"] == earlier[0] and rows[0]["error"] == "before"
        assert len(rows) == 2 and rows[1]["id"].startswith(f"{pending[0].id}#1.")
        resumed = await node.security.audit.query(AuditQuery(action_prefix="swarm.resume"))
        assert resumed and resumed[0].detail["resumed"] == 5
    finally:
        await swarm.stop()
        await node.stop()


async def test_hot_reload_reaches_agents_without_restart(
    swarm: SwarmCoordinator, node: HeartNode
) -> None:
    agent = await swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR)
    result = await node.reload.reload_module(
        "versioned", source=VERSIONED.format(n=1), principal=OPERATOR
    )
    assert result.ok
    assert (await swarm.run(Task(tool="which", inputs={"x": 2}), OPERATOR, 10)).result == "v1:4"
    result = await node.reload.reload_module(
        "versioned", source=VERSIONED.format(n=2), principal=OPERATOR
    )
    assert result.ok and result.version == 2
    latest = await swarm.run(Task(tool="which", inputs={"x": 3}), OPERATOR, 10)
    assert latest.result == "v2:6" and latest.tool_version == 2
    pinned = await swarm.run(Task(tool="which", tool_version=1), OPERATOR, 10)
    assert pinned.result == "v1:2" and pinned.tool_version == 1
    current = {a.id: a for a in swarm.agents()}[agent.id]
    assert current.pid == agent.pid and current.state.value == "ready"  # never restarted
    shipped = swarm.backend._agents[agent.id].bundles  # type: ignore[attr-defined]
    assert len(shipped) == 2  # one bundle per version, shipped once each
    # redundant replicas of one task all run the same version, even across a reload
    await swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR)
    info = await swarm.submit(Task(tool="which", redundancy=2), OPERATOR)
    reload = node.reload.reload_module(
        "versioned", source=VERSIONED.format(n=3), principal=OPERATOR
    )
    done, _ = await asyncio.gather(swarm.wait(info.id, 10), reload)
    assert done.consensus and done.consensus["status"] == "agreed"
