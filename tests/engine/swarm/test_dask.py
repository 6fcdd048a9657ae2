"""The Dask backend: the same coordinator API over a LocalCluster of worker processes.

Skipped cleanly when the optional ``distributed`` extra is not installed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

from chimera_engine.node import HeartNode  # noqa: E402
from chimera_engine.swarm.coordinator import SwarmCoordinator  # noqa: E402
from chimera_engine.swarm.errors import BackendUnavailableError  # noqa: E402
from chimera_engine.swarm.models import (  # noqa: E402
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
    TaskState,
)

from .conftest import OPERATOR  # noqa: E402

pytestmark = pytest.mark.slow


async def node_key(node: HeartNode) -> str:
    plaintext, _ = await node.security.api_keys.create(
        name="dask workers", role="node", created_by="test"
    )
    return plaintext


async def start_cluster(env: dict[str, str], **kw: Any) -> Any:
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=2,
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
    try:
        yield swarm
    finally:
        await swarm.stop()


async def test_dask_backend_runs_tasks_on_role_resources(
    dask_swarm: SwarmCoordinator, node: HeartNode
) -> None:
    swarm = dask_swarm
    agents = swarm.agents()
    assert len(agents) == 2 and {a.role for a in agents} == {"executor"}
    assert all(a.backend == "dask" and a.concurrency == 2 for a in agents)
    infos = await swarm.submit_many(
        [Task(tool="add", inputs={"a": i, "b": 1}) for i in range(20)], OPERATOR
    )
    done = [await swarm.wait(i.id, 30) for i in infos]
    assert [d.result for d in done] == [i + 1 for i in range(20)]
    workers = {d.agent for d in done}
    assert workers <= {a.id for a in agents}, (workers, agents)
    # redundancy and consensus work the same way
    voted = await swarm.run(
        Task(
            tool="twice",
            inputs={"x": 21},
            redundancy=2,
            consensus=ConsensusPolicy(method=ConsensusMethod.UNANIMOUS),
        ),
        OPERATOR,
        30,
    )
    assert voted.result == 42 and voted.consensus and voted.consensus["status"] == "agreed"
    # the same errors as the local backend
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


async def test_results_from_workers_without_node_credentials_are_refused(
    make_swarm: Callable[..., SwarmCoordinator],
) -> None:
    cluster = await start_cluster({"CHIMERA_NODE_KEY": "chk_00000000_forged"})
    swarm = make_swarm(backend="dask", scheduler_address=cluster.scheduler_address)
    try:
        await swarm.start()
        done = await swarm.run(Task(tool="add", inputs={"a": 1, "b": 2}), OPERATOR, 30)
        assert done.state is TaskState.FAILED and done.error_code == "unauthenticated"
        assert "no valid node credentials" in done.error
    finally:
        await swarm.stop()
        await cluster.close()


async def test_poisoned_task_on_dask_is_quarantined(dask_swarm: SwarmCoordinator) -> None:
    final = await dask_swarm.run(Task(tool="die"), OPERATOR, 60)
    assert final.state is TaskState.QUARANTINED and "killed every worker" in final.error
    ok = await dask_swarm.run(Task(tool="add", inputs={"a": 1, "b": 1}), OPERATOR, 60)
    assert ok.result == 2  # the swarm carries on


async def test_unreachable_scheduler_is_a_clear_error(
    make_swarm: Callable[..., SwarmCoordinator],
) -> None:
    swarm = make_swarm(backend="dask", scheduler_address="tcp://127.0.0.1:9", connect_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=r"tcp://127\.0\.0\.1:9 is unreachable"):
        await swarm.start()
    assert time.monotonic() - start < 5
    assert not swarm.started
