"""Agents: spawning real processes, authentication, limits, stop and kill, heartbeats."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import AuthenticationError, ValidationError
from chimera_engine.node import HeartNode
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.errors import AgentStartError, SwarmCapacityError
from chimera_engine.swarm.events import AgentChanged
from chimera_engine.swarm.models import AgentSpec, AgentState, Task, TaskState
from tests.swarm.conftest import OPERATOR


async def wait_for(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_agent_spawning(swarm: SwarmCoordinator, node: HeartNode) -> None:
    events = node.bus.subscribe(AgentChanged)
    infos = await asyncio.gather(
        swarm.spawn_agent(AgentSpec(role="executor", concurrency=2), OPERATOR),
        swarm.spawn_agent(AgentSpec(role="analyzer", capabilities=frozenset({"net"})), OPERATOR),
    )
    for info in infos:
        assert info.state is AgentState.READY and info.ready_at is not None
        assert info.pid is not None and info.pid != os.getpid()
        os.kill(info.pid, 0)  # a real, separate process
    assert {a.role for a in swarm.agents()} == {"executor", "analyzer"}
    assert (await asyncio.wait_for(events.get(), 2)).change == "ready"  # type: ignore[attr-defined]

    # both can work, each for its own role and capabilities
    done = await swarm.run(Task(tool="whoami"), OPERATOR, timeout=5)
    assert done.state is TaskState.SUCCEEDED and done.result == infos[0].id
    done = await swarm.run(
        Task(tool="whoami", role="analyzer", requires=frozenset({"net"})), OPERATOR, timeout=5
    )
    assert done.result == infos[1].id

    # heartbeats arrive and report memory
    await wait_for(lambda: all(a.last_heartbeat and a.rss_bytes for a in swarm.agents()))

    # spawned with node-role credentials: the key exists, is scoped, and is audited
    keys = [k for k in node.security.api_keys.list() if k.name == "swarm agents"]
    assert keys and keys[0].role.value == "node" and keys[0].revoked_at is None
    spawns = await node.security.audit.query(AuditQuery(action_prefix="swarm.agent.spawn"))
    assert {e.target for e in spawns} == {i.id for i in infos}

    # graceful stop, then kill
    stopped = await swarm.stop_agent(infos[1].id, OPERATOR)
    assert stopped.state is AgentState.STOPPED
    killed = await swarm.stop_agent(infos[0].id, OPERATOR, kill=True)
    assert killed.state is AgentState.KILLED
    with pytest.raises(ProcessLookupError):
        os.kill(infos[0].pid or 0, 0)
    assert swarm.backend.live_count() == 0


async def test_more_spawns_than_the_maximum_are_refused(make_swarm) -> None:  # type: ignore[no-untyped-def]
    swarm = make_swarm(max_agents=2, respawn=False)
    await swarm.start()
    try:
        results = await asyncio.gather(
            *(swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR) for _ in range(4)),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(refused) == 2 and all(isinstance(r, SwarmCapacityError) for r in refused)
        assert "max_agents is 2" in str(refused[0])
        assert swarm.backend.live_count() == 2
        with pytest.raises(ValidationError):
            await swarm.spawn_agent(AgentSpec(role="Bad Role!"), OPERATOR)
        with pytest.raises(ValidationError):
            await swarm.spawn_agent(AgentSpec(concurrency=0), OPERATOR)
    finally:
        await swarm.stop()


async def test_agent_with_bad_credentials_is_refused(make_swarm, node: HeartNode) -> None:  # type: ignore[no-untyped-def]
    swarm = make_swarm()

    class WrongKey:
        async def issue(self) -> str:
            return "chk_deadbeef_not-a-real-key"

        def authenticate(self, key: str):  # type: ignore[no-untyped-def]
            return swarm_real.authenticate(key)

        async def revoke(self) -> None:
            return None

    swarm_real = swarm.credentials
    swarm.credentials = WrongKey()
    await swarm.start()
    try:
        with pytest.raises(AgentStartError, match="refused"):
            await swarm.spawn_agent(AgentSpec(), OPERATOR)
        agent = swarm.agents()[0]
        assert agent.state is AgentState.REFUSED
        # The refusal is audited from a task of its own: wait for it (bounded).
        query = AuditQuery(action_prefix="swarm.agent.authenticate")
        for _ in range(100):
            await node.security.audit.flush()
            denied = await node.security.audit.query(query)
            if denied:
                break
            await asyncio.sleep(0.02)
        assert denied and denied[0].outcome == "denied"
        with pytest.raises(AuthenticationError):
            swarm_real.authenticate("")
    finally:
        await swarm.stop()


async def test_agent_that_cannot_start_reports_why(make_swarm) -> None:  # type: ignore[no-untyped-def]
    swarm = make_swarm(python=sys.executable, respawn=False)
    await swarm.start()
    try:
        spec = AgentSpec(
            env={
                "PYTHONPATH": "/nonexistent",
                "PYTHONSAFEPATH": "1",
                "PYTHONNOUSERSITE": "1",
                "PYTHONHOME": "/nonexistent",
            }
        )
        with pytest.raises(AgentStartError, match=r"before it was ready|not ready"):
            await swarm.spawn_agent(spec, OPERATOR)
        assert swarm.backend.live_count() == 0
    finally:
        await swarm.stop()


async def test_agents_exit_when_the_coordinator_disappears(swarm: SwarmCoordinator) -> None:
    info = await swarm.spawn_agent(AgentSpec(), OPERATOR)
    agent = swarm.backend._agents[info.id]  # type: ignore[attr-defined]
    assert agent.proc is not None and agent.proc.stdin is not None
    await wait_for(lambda: agent.last_heartbeat is not None)  # welcomed and working
    agent.proc.stdin.close()  # what the OS does when the coordinator dies
    code = await asyncio.wait_for(agent.proc.wait(), 5)
    assert code == 0


def test_agent_process_stays_lean() -> None:
    code = (
        "import sys, chimera_engine.swarm.agent; "
        "print(sorted(m for m in ('numpy', 'sklearn', 'PySide6', 'sqlite3', 'aiohttp', "
        "'chimera_engine.store', 'chimera_engine.security', 'distributed') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_agent_survives_sigint(swarm: SwarmCoordinator) -> None:
    info = await swarm.spawn_agent(AgentSpec(), OPERATOR)
    assert info.pid is not None
    os.kill(info.pid, signal.SIGINT)  # a Ctrl-C in the terminal: stopping is the coordinator's job
    done = await swarm.run(Task(tool="add", inputs={"a": 1, "b": 1}), OPERATOR, timeout=5)
    assert done.result == 2


async def test_initial_agents_from_settings(make_swarm) -> None:  # type: ignore[no-untyped-def]
    swarm = make_swarm(initial_agents="executor:2, analyzer")
    await swarm.start()
    try:
        roles = sorted(a.role for a in swarm.agents() if a.state is AgentState.READY)
        assert roles == ["analyzer", "executor", "executor"]
    finally:
        await swarm.stop()
    assert all(a.state is AgentState.STOPPED for a in swarm.agents())
    keys = [k for k in swarm.credentials._keys.list() if k.name == "swarm agents"]  # type: ignore[attr-defined]
    assert keys and all(k.revoked_at is not None for k in keys)  # revoked at stop


async def test_only_node_role_keys_are_accepted(swarm: SwarmCoordinator, node: HeartNode) -> None:
    admin_key, _ = await node.security.api_keys.create(
        name="too much", role="admin", created_by="test"
    )
    scoped, _ = await node.security.api_keys.create(
        name="no report", role="node", scopes=["node.register"], created_by="test"
    )
    good, _ = await node.security.api_keys.create(name="fine", role="node", created_by="test")
    with pytest.raises(AuthenticationError, match="node-role"):
        swarm.authenticate(admin_key)
    with pytest.raises(AuthenticationError, match=r"lacks node\.report"):
        swarm.authenticate(scoped)
    assert swarm.authenticate(good).role.value == "node"


async def test_ended_agents_do_not_pile_up(swarm: SwarmCoordinator) -> None:
    from chimera_engine.swarm.local import FINAL_AGENTS_KEPT

    for _ in range(FINAL_AGENTS_KEPT + 3):
        info = await swarm.spawn_agent(AgentSpec(concurrency=1), OPERATOR)
        await swarm.stop_agent(info.id, OPERATOR, kill=True)
    ended = [a for a in swarm.agents() if a.state.final]
    assert len(ended) == FINAL_AGENTS_KEPT
