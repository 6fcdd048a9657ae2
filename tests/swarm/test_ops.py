"""The facade operations: each checks its permission (refusals audited) before acting."""

from __future__ import annotations

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import PermissionDeniedError
from chimera_engine.node import HeartNode
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Role
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.consensus import Vote
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.decomposer import Job
from chimera_engine.swarm.models import AgentSpec, ConsensusPolicy, Task, TaskState
from chimera_engine.swarm.service import SwarmService

PASSWORD = "correct horse battery"


async def login(node: HeartNode, admin: Principal, name: str, role: Role) -> Principal:
    await node.facade.admin.create_user(admin, name, PASSWORD, role)
    return (await node.facade.sessions.login(name, PASSWORD)).principal


async def test_operations_check_permissions(node: HeartNode, swarm: SwarmCoordinator) -> None:
    admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
    operator = await login(node, admin, "olga", Role.OPERATOR)
    observer = await login(node, admin, "otto", Role.OBSERVER)
    _, agent_key = await node.security.api_keys.create(
        name="a node", role=Role.NODE, created_by="test"
    )
    node_principal = Principal(
        user_id=None, name="key:a node", role=Role.NODE, via="api_key", token_id=agent_key.prefix
    )
    ops = SwarmService(Guard(lambda: node.security), lambda: swarm)

    agent = await ops.spawn(operator, AgentSpec(concurrency=2))
    assert (await ops.agents(observer))[0].id == agent.id
    (info,) = await ops.submit(operator, [Task(tool="add", inputs={"a": 1, "b": 2})])
    assert (await swarm.wait(info.id, 10)).result == 3
    assert (await ops.task(observer, info.id)).state is TaskState.SUCCEEDED
    assert [a["outcome"] for a in await ops.attempts(observer, info.id)] == ["ok"]
    graph = await ops.submit_plan(
        operator,
        [
            {"id": "p1", "tool": "add", "inputs": {"a": 2, "b": 3}},
            {"id": "p2", "tool": "twice", "inputs": {"x": {"$ref": "p1"}}},
        ],
    )
    (out,) = await swarm.wait_graph(graph, 10)
    assert out.result == 10
    job = await ops.submit_job(
        operator, Job(tool="count", inputs={"rows": [1, 2, 3]}, map_over="rows", aggregate="total")
    )
    (total,) = await swarm.wait_graph(job, 10)
    assert total.result == 3
    outcome = await ops.consensus(
        operator, [Vote("a", 1), Vote("b", 1)], ConsensusPolicy(), subject="manual"
    )
    assert outcome.agreed
    assert (await ops.status(observer)).completed >= 6
    assert len(await ops.history(observer, limit=3)) == 3

    # refusals: observers read only; machine roles cannot drive the swarm
    with pytest.raises(PermissionDeniedError):
        await ops.spawn(observer, AgentSpec())
    with pytest.raises(PermissionDeniedError):
        await ops.submit(observer, [Task(tool="add", inputs={"a": 1, "b": 1})])
    with pytest.raises(PermissionDeniedError):
        await ops.consensus(observer, [Vote("a", 1)], ConsensusPolicy())
    with pytest.raises(PermissionDeniedError):
        await ops.stop_agent(node_principal, agent.id, kill=True)
    with pytest.raises(PermissionDeniedError):
        await ops.status(node_principal)
    denied = await node.security.audit.query(AuditQuery(action_prefix="swarm."))
    assert sum(1 for e in denied if e.outcome == "denied") >= 5
    stopped = await ops.stop_agent(operator, agent.id)
    assert stopped.state.value == "stopped"


async def test_swarm_consensus_with_security(node: HeartNode, swarm: SwarmCoordinator) -> None:
    admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
    operator = await login(node, admin, "olga", Role.OPERATOR)
    observer = await login(node, admin, "otto", Role.OBSERVER)
    ops = SwarmService(Guard(lambda: node.security), lambda: swarm)
    for env in ({}, {}, {"SWARM_TEST_BIAS": "0.5", "SWARM_TEST_CONFIDENCE": "0.2"}):
        await ops.spawn(operator, AgentSpec(concurrency=1, env=env))
    policy = ConsensusPolicy.from_json({"method": "weighted", "tolerance": 0.01})
    (info,) = await ops.submit(
        operator, [Task(tool="measure", inputs={"x": 2.0}, redundancy=3, consensus=policy)]
    )
    done = await swarm.wait(info.id, 10)
    assert done.state is TaskState.SUCCEEDED and done.result == 2.0
    assert done.consensus and len(done.consensus["dissenters"]) == 1
    with pytest.raises(PermissionDeniedError):
        await ops.submit(observer, [Task(tool="measure", inputs={"x": 1.0})])
    entries = await node.security.audit.query(AuditQuery(action_prefix="swarm."))
    votes = [e for e in entries if e.action == "swarm.vote" and e.target == info.id]
    assert len(votes) == 3 and {v.detail["confidence"] for v in votes} == {1.0, 0.2}
    decided = [e for e in entries if e.action == "swarm.consensus" and e.target == info.id]
    assert decided[0].detail["status"] == "agreed"
    assert (await node.security.audit.verify()).ok  # the chain holds every vote untampered
