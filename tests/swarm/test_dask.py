"""The Dask backend on a real LocalCluster of worker processes: the coordinator's API
and its guarantees (distinct replicas, worker-side timeouts, cancel, node keys,
worker crashes, a scheduler that appears late).

Skipped cleanly when the optional ``distributed`` extra is not installed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from chimera_engine.audit.store import AuditQuery  # noqa: E402
from chimera_engine.node import HeartNode  # noqa: E402
from chimera_engine.swarm.coordinator import SwarmCoordinator  # noqa: E402
from chimera_engine.swarm.models import (  # noqa: E402
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
    TaskState,
)
from tests.swarm.conftest import OPERATOR  # noqa: E402

pytestmark = pytest.mark.slow

PROBES = """
import os
import time

from chimera_engine.tooling import tool


@tool(name="mark")
def mark(folder: str, n: int, seconds: float = 0.2) -> int:
    time.sleep(seconds)
    open(os.path.join(folder, str(n)), "w").close()
    return n


@tool(name="spin")
def spin(folder: str) -> int:
    i = 0
    while True:
        time.sleep(0.02)
        i += 1
        with open(os.path.join(folder, "spin"), "w") as f:
            f.write(str(i))
"""


async def node_key(node: HeartNode) -> str:
    plaintext, _ = await node.security.api_keys.create(
        name="dask workers", role="node", created_by="test"
    )
    return plaintext


async def start_cluster(env: dict[str, str], **kw: Any) -> Any:
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=kw.pop("n_workers", 2),
            processes=True,
            threads_per_worker=2,
            resources={"executor": 2},
            asynchronous=True,
            dashboard_address=":0",
            env=env,
            **kw,
        )
        await cluster
    return cluster


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def actions(node: HeartNode, prefix: str) -> list[dict[str, Any]]:
    await asyncio.sleep(0.2)  # audit writes are queued
    entries = await node.security.audit.query(AuditQuery(action_prefix=prefix))
    return [{"action": e.action, "target": e.target, "outcome": e.outcome} for e in entries]


@pytest.fixture
async def cluster(node: HeartNode) -> AsyncIterator[Any]:
    c = await start_cluster({"CHIMERA_NODE_KEY": await node_key(node)})
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def dask_swarm(
    make_swarm: Callable[..., SwarmCoordinator], cluster: Any
) -> AsyncIterator[SwarmCoordinator]:
    swarm = make_swarm(backend="dask", scheduler_address=cluster.scheduler_address)
    await swarm.start()
    await until(lambda: sum(a.state.value == "ready" for a in swarm.agents()) == 2)
    try:
        yield swarm
    finally:
        await swarm.stop()


async def test_dask_backend_runs_tasks_with_distinct_replicas(
    dask_swarm: SwarmCoordinator, node: HeartNode
) -> None:
    swarm = dask_swarm
    agents = swarm.agents()
    assert len(agents) == 2 and {a.role for a in agents} == {"executor"}
    assert all(a.backend == "dask" and a.concurrency == 2 for a in agents)
    joined = await actions(node, "swarm.agent.joined")
    assert {j["target"] for j in joined} == {a.id for a in agents}
    infos = await swarm.submit_many(
        [Task(tool="add", inputs={"a": i, "b": 1}) for i in range(20)], OPERATOR
    )
    done = [await swarm.wait(i.id, 30) for i in infos]
    assert [d.result for d in done] == [i + 1 for i in range(20)]
    assert {d.agent for d in done} <= {a.id for a in agents}
    assert swarm.stats().round_trip_p50_ms > 0
    # redundancy 2 on 2 workers: every task's two votes come from two workers
    voted = await swarm.submit_many(
        [
            Task(
                tool="twice",
                inputs={"x": i},
                redundancy=2,
                consensus=ConsensusPolicy(method=ConsensusMethod.UNANIMOUS),
            )
            for i in range(30)
        ],
        OPERATOR,
    )
    for info in voted:
        final = await swarm.wait(info.id, 30)
        assert final.consensus is not None and final.consensus["status"] == "agreed"
        voters = [b["agent"] for b in final.consensus["ballots"]]
        assert len(set(voters)) == 2, voters
    failed = await swarm.run(Task(tool="boom"), OPERATOR, 30)
    assert failed.state is TaskState.FAILED and failed.error == "ValueError: boom"
    # a hot reload reaches the workers: a new version is shipped by content hash
    source = (
        "from chimera_engine.tooling import tool\n@tool(name='ver')\ndef ver() -> int:\n"
        "    return {n}\n"
    )
    await node.reload.reload_module("verdask", source=source.format(n=1), principal=OPERATOR)
    assert (await swarm.run(Task(tool="ver"), OPERATOR, 30)).result == 1
    await node.reload.reload_module("verdask", source=source.format(n=2), principal=OPERATOR)
    assert (await swarm.run(Task(tool="ver"), OPERATOR, 30)).result == 2
    # a role no worker offers waits; spawning a worker with that resource serves it
    waiting = await swarm.submit(Task(tool="whoami", role="analyzer"), OPERATOR)
    analyzer = await swarm.spawn_agent(AgentSpec(role="analyzer", concurrency=1), OPERATOR)
    assert analyzer.role == "analyzer" and analyzer.backend == "dask"
    served = await swarm.wait(waiting.id, 30)
    assert served.state is TaskState.SUCCEEDED and served.result == analyzer.id
    stopped = await swarm.stop_agent(analyzer.id, OPERATOR)
    assert stopped.state.value == "stopped"


async def test_a_worker_without_a_node_key_gets_no_work(
    make_swarm: Callable[..., SwarmCoordinator], node: HeartNode, cluster: Any
) -> None:
    intruder = distributed.Nanny(
        cluster.scheduler_address,
        nthreads=2,
        resources={"executor": 2},
        env={"CHIMERA_NODE_KEY": "chk_00000000_forged"},
        name="intruder",
    )
    await intruder
    second_key, second_record = await node.security.api_keys.create(
        name="host d", role="node", created_by="test"
    )
    second = distributed.Nanny(
        cluster.scheduler_address,
        nthreads=2,
        resources={"executor": 2},
        env={"CHIMERA_NODE_KEY": second_key},
        name="second",
    )
    await second
    swarm = make_swarm(backend="dask", scheduler_address=cluster.scheduler_address)
    try:
        await swarm.start()
        await until(lambda: len([a for a in swarm.agents() if a.state.value != "starting"]) == 4)
        states = {a.id: a.state.value for a in swarm.agents()}
        assert states["intruder"] == "refused" and states["second"] == "ready", states
        infos = await swarm.submit_many([Task(tool="whoami") for _ in range(30)], OPERATOR)
        done = [await swarm.wait(i.id, 30) for i in infos]
        assert all(d.state is TaskState.SUCCEEDED for d in done)
        assert "intruder" not in {d.agent for d in done}
        refused = await actions(node, "swarm.agent.refused")
        assert [r["target"] for r in refused] == ["intruder"]
        assert refused[0]["outcome"] == "error"
        # a key revoked during a run: that worker's results stop counting, its work moves
        await node.security.api_keys.revoke(second_record.id)
        infos = await swarm.submit_many(
            [Task(tool="nap", inputs={"seconds": 0.02}) for _ in range(40)], OPERATOR
        )
        done = [await swarm.wait(i.id, 30) for i in infos]
        assert all(d.state is TaskState.SUCCEEDED for d in done)
        assert "second" not in {d.agent for d in done}
        assert {a.id: a.state.value for a in swarm.agents()}["second"] == "refused"
    finally:
        await swarm.stop()
        await second.close()
        await intruder.close()


async def test_timeouts_count_from_the_start_and_cancel_stops_work(
    dask_swarm: SwarmCoordinator, node: HeartNode, tmp_path: Path
) -> None:
    swarm = dask_swarm
    await node.reload.reload_module("probes", source=PROBES, principal=OPERATOR)
    folder = tmp_path / "marks"
    folder.mkdir()
    # 40 x 0.2 s on 4 threads queue for ~2 s: a 1 s timeout must not count that wait
    infos = await swarm.submit_many(
        [Task(tool="mark", inputs={"folder": str(folder), "n": i}, timeout=1.0) for i in range(40)],
        OPERATOR,
    )
    done = [await swarm.wait(i.id, 60) for i in infos]
    assert [d.state for d in done] == [TaskState.SUCCEEDED] * 40, [d.error for d in done]
    # a running attempt that overruns is stopped on the worker, from its start
    spin_dir = tmp_path / "spin"
    spin_dir.mkdir()
    slow = await swarm.run(
        Task(tool="spin", inputs={"folder": str(spin_dir)}, timeout=0.5), OPERATOR, 30
    )
    assert slow.state is TaskState.FAILED and slow.error_code == "timeout", slow.error
    await asyncio.sleep(0.3)
    ticks = (spin_dir / "spin").read_text()
    await asyncio.sleep(0.4)
    assert (spin_dir / "spin").read_text() == ticks  # the loop really stopped
    # cancelling 90 of 100 queued tasks: the cancelled ones never run
    for f in folder.iterdir():
        f.unlink()
    queued = await swarm.submit_many(
        [Task(tool="mark", inputs={"folder": str(folder), "n": i}) for i in range(100)],
        OPERATOR,
    )
    await asyncio.gather(*(swarm.cancel(i.id, OPERATOR) for i in queued[10:]))
    kept = [await swarm.wait(i.id, 30) for i in queued[:10]]
    assert all(k.state is TaskState.SUCCEEDED for k in kept)
    await asyncio.sleep(0.6)
    ran = {int(p.name) for p in folder.iterdir()}
    assert set(range(10)) <= ran and len(ran) <= 10 + 8, sorted(ran)  # a few were running
    # cancelling a running task stops it on its worker
    for f in spin_dir.iterdir():
        f.unlink()
    running = await swarm.submit(Task(tool="spin", inputs={"folder": str(spin_dir)}), OPERATOR)
    await until(lambda: (spin_dir / "spin").exists())
    assert (await swarm.cancel(running.id, OPERATOR)).state is TaskState.CANCELLED
    await asyncio.sleep(0.5)
    ticks = (spin_dir / "spin").read_text()
    await asyncio.sleep(0.4)
    assert (spin_dir / "spin").read_text() == ticks


async def test_worker_crashes_blame_only_started_tasks(
    dask_swarm: SwarmCoordinator, cluster: Any
) -> None:
    swarm = dask_swarm
    infos = await swarm.submit_many(
        [Task(tool="nap", inputs={"seconds": 0.05}) for _ in range(150)], OPERATOR
    )
    client = swarm.backend.client  # type: ignore[attr-defined]
    for _ in range(4):  # four crashes within five seconds
        await asyncio.sleep(1.1)
        pids = await client.run(os.getpid)
        if pids:
            os.kill(next(iter(pids.values())), signal.SIGKILL)
    done = [await swarm.wait(i.id, 90) for i in infos]
    states = {d.state for d in done}
    assert states == {TaskState.SUCCEEDED}, [d.error for d in done if d.error][:3]
    outcomes = await swarm.store.attempt_outcomes()
    assert outcomes.get("agent_lost", 0) >= 1, outcomes  # the kills did hit running work
    # a task that kills every worker that runs it is quarantined, and only it
    await until(lambda: sum(a.state.value == "ready" for a in swarm.agents()) == 2, 30)
    final = await swarm.run(Task(tool="die"), OPERATOR, 90)
    assert final.state is TaskState.QUARANTINED, final.error
    ok = await swarm.run(Task(tool="add", inputs={"a": 1, "b": 1}), OPERATOR, 60)
    assert ok.result == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_swarm_started_before_its_scheduler_joins_it_later(
    make_swarm: Callable[..., SwarmCoordinator], node: HeartNode
) -> None:
    port = free_port()
    swarm = make_swarm(
        backend="dask", scheduler_address=f"tcp://127.0.0.1:{port}", connect_timeout=0.5
    )
    started = time.monotonic()
    await swarm.start()  # no scheduler yet: the swarm starts and keeps trying
    assert time.monotonic() - started < 5 and swarm.started
    stats = swarm.stats()
    assert stats.scheduler_unreachable_since is not None and stats.scheduler_error
    waiting = await swarm.submit(Task(tool="add", inputs={"a": 2, "b": 3}), OPERATOR)
    cluster = await start_cluster(
        {"CHIMERA_NODE_KEY": await node_key(node)}, n_workers=1, scheduler_port=port
    )
    try:
        assert (await swarm.wait(waiting.id, 40)).result == 5
        assert swarm.stats().scheduler_unreachable_since is None
    finally:
        await swarm.stop()
        await cluster.close()
