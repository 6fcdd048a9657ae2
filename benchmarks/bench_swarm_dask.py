"""The Dask section of ``bench_swarm.py``: the same trivial tasks on the local backend and
on Dask (a ``dask scheduler`` process and two ``dask worker`` processes of 4 threads,
restarted by a supervising loop as a service manager would), and a soak that kills a
worker every 3 s and restarts the scheduler once.

Run alone: ``.venv/bin/python benchmarks/bench_swarm.py --only dask``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _util import report

from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.models import AgentSpec, Task, TaskInfo, TaskState

WHO = Principal.system("bench")


class Cluster:
    """A scheduler and supervised workers as subprocesses, each with its own directory."""

    def __init__(self, root: Path, key: str, workers: int = 2, threads: int = 4) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.root, self.key, self.workers, self.threads = root, key, workers, threads
        self.procs: list[subprocess.Popen[bytes]] = []
        self.scheduler: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            argv,
            cwd=home,
            env={**os.environ, "HOME": str(home), "CHIMERA_NODE_KEY": self.key},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_scheduler(self) -> None:
        self.scheduler = self._start(
            "scheduler",
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-dashboard"],
        )  # fmt: skip

    def kill_scheduler(self) -> None:
        if self.scheduler is not None:
            os.killpg(self.scheduler.pid, signal.SIGKILL)
            self.scheduler.wait()

    def start(self) -> None:
        self.start_scheduler()
        for i in range(self.workers):
            worker = (
                f"{sys.executable} -m distributed.cli.dask_worker {self.address} "
                f"--nthreads {self.threads} --resources executor={self.threads} "
                f"--name bench-w{i} --no-nanny --no-dashboard"
            )
            self._start(f"w{i}", ["/bin/sh", "-c", f"while :; do {worker}; sleep 0.2; done"])

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def submit_stream(
    swarm: SwarmCoordinator, n: int, key_prefix: str
) -> tuple[list[str], list[TaskInfo]]:
    """Submit ``n`` echo tasks of 20 ms as a steady stream (250 every 0.5 s: about 500
    tasks/s) and wait for them all; the task ids and their final states, in order."""
    ids: list[str] = []
    waits: list[asyncio.Future[TaskInfo]] = []
    for offset in range(0, n, 250):
        infos = await swarm.submit_many(
            [
                Task(
                    tool="echo",
                    inputs={"x": offset + i, "work_ms": 20.0},
                    idempotency_key=f"{key_prefix}-{offset + i}",
                )
                for i in range(min(250, n - offset))
            ],
            WHO,
        )
        ids.extend(i.id for i in infos)
        waits.extend(asyncio.ensure_future(swarm.wait(i.id)) for i in infos)
        await asyncio.sleep(0.5)
    return ids, list(await asyncio.gather(*waits))


async def ready(swarm: SwarmCoordinator, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while sum(a.state.value == "ready" for a in swarm.agents()) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {n} agents ready after {timeout:g} s")
        await asyncio.sleep(0.1)


async def batch_rate(swarm: SwarmCoordinator, n: int) -> tuple[float, float]:
    """Tasks per second and coordinator CPU seconds for ``n`` trivial tasks."""
    cpu, start = time.process_time(), time.perf_counter()
    infos = await swarm.submit_many([Task(tool="echo", inputs={"x": i}) for i in range(n)], WHO)
    done = await asyncio.gather(*(swarm.wait(i.id) for i in infos))
    elapsed = time.perf_counter() - start
    assert all(d.state is TaskState.SUCCEEDED for d in done)
    return n / elapsed, time.process_time() - cpu


async def compare(node: HeartNode, make: Any, root: Path, n: int = 1000, runs: int = 3) -> None:
    local = make(node)
    await local.start()
    try:
        for _ in range(2):
            await local.spawn_agent(AgentSpec(concurrency=4), WHO)
        await batch_rate(local, 50)
        local_runs = [await batch_rate(local, n) for _ in range(runs)]
    finally:
        await local.stop()
    key, _ = await node.security.api_keys.create(name="bench", role="node", created_by="bench")
    cluster = Cluster(root / "compare", key)
    cluster.start()
    dask = make(node, backend="dask", scheduler_address=cluster.address)
    await dask.start()
    try:
        await ready(dask, 2)
        await batch_rate(dask, 50)
        dask_runs = [await batch_rate(dask, n) for _ in range(runs)]
    finally:
        await dask.stop()
        cluster.close()
    local_rate = statistics.median(r for r, _ in local_runs)
    dask_rate = statistics.median(r for r, _ in dask_runs)
    report(f"local, 2 agents x 4, {n} trivial tasks, median", local_rate, "tasks/s")
    report(f"dask, 2 workers x 4, {n} trivial tasks, median", dask_rate, "tasks/s")
    report("dask / local throughput", 100 * dask_rate / local_rate, "%", ">= 50 %")
    report(
        f"coordinator CPU per {n} tasks, local", statistics.median(c for _, c in local_runs), "s"
    )
    report(f"coordinator CPU per {n} tasks, dask", statistics.median(c for _, c in dask_runs), "s")


async def soak(node: HeartNode, make: Any, root: Path, n: int = 5000) -> None:
    key, _ = await node.security.api_keys.create(name="soak", role="node", created_by="bench")
    cluster = Cluster(root / "soak", key)
    cluster.start()
    swarm = make(node, backend="dask", scheduler_address=cluster.address, connect_timeout=1.0)
    await swarm.start()
    kills = 0
    restarted = False

    async def chaos() -> None:
        nonlocal kills, restarted
        began = time.monotonic()
        while True:
            await asyncio.sleep(3.0)
            client = swarm.backend.client  # type: ignore[attr-defined]
            if not restarted and time.monotonic() - began > 10:
                cluster.kill_scheduler()
                await asyncio.sleep(3.0)
                cluster.start_scheduler()
                restarted = True
                continue
            if client is None:
                continue
            try:
                pids = await asyncio.wait_for(client.run(os.getpid), 2.0)
            except Exception:
                continue
            if pids:
                victim = sorted(pids.values())[kills % len(pids)]
                os.kill(victim, signal.SIGKILL)
                kills += 1

    try:
        await ready(swarm, 2)
        chaos_task = asyncio.get_running_loop().create_task(chaos())
        start = time.perf_counter()
        ids, done = await submit_stream(swarm, n, "dask-soak")
        elapsed = time.perf_counter() - start
        chaos_task.cancel()
        await swarm.store.flush()
        succeeded = sum(1 for d in done if d.state is TaskState.SUCCEEDED)
        quarantined = sum(1 for d in done if d.state is TaskState.QUARANTINED)
        recorded = await swarm.store.count_results(ids)
        wrong = sum(1 for i, d in enumerate(done) if d.state.final and d.result != i)
        lost_attempts = (await swarm.store.attempt_outcomes()).get("agent_lost", 0)
        print(
            f"dask soak: {n} tasks of 20 ms in {elapsed:.1f} s, {kills} workers killed "
            f"(kill -9 every 3 s), scheduler restarted {int(restarted)}x, {lost_attempts} "
            f"attempts lost and reassigned, {swarm.late_replies} late replies ignored"
        )
        report("dask soak: tasks lost", n - succeeded - quarantined, "", "0")
        report("dask soak: results recorded twice", recorded - succeeded, "", "0")
        report("dask soak: wrongly quarantined", quarantined, "", "0")
        report("dask soak: wrong results", wrong, "", "0")
    finally:
        await swarm.stop()
        cluster.close()


async def dask_section(node: HeartNode, make: Any, root: Path, soak_tasks: int) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("dask section skipped: the 'dask' extra (distributed) is not installed")
        return
    await compare(node, make, root)
    await soak(node, make, root, soak_tasks)
