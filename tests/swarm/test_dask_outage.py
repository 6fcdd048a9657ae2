"""The Dask backend as the swarm README sets it up: a ``dask scheduler`` process and
``dask worker`` processes (each with its own working directory and HOME, restarted by
a supervising loop as a service manager would). The scheduler is killed and comes
back: the engine keeps trying, says since when the scheduler is unreachable, queued
work waits and then runs, nothing is lost or recorded twice, and the ``chimera``
command reads the history meanwhile without touching it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from chimera_engine.node import HeartNode
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.models import Task, TaskState
from tests.swarm.conftest import OPERATOR
from tests.swarm.test_dask import free_port, node_key, until

pytestmark = pytest.mark.slow
DOWN_SECONDS = 6.0  # longer than the connect timeout that used to end all retrying


class Processes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        home = self.root / name
        home.mkdir(parents=True, exist_ok=True)
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            cwd=home,
            env={**os.environ, "HOME": str(home), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    p = Processes(tmp_path / "procs")
    try:
        yield p
    finally:
        p.close()


def scheduler(processes: Processes, port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
    return processes.start("scheduler", [*argv, "--port", str(port), "--no-dashboard"])


def supervised_worker(processes: Processes, port: int, name: str, key: str) -> None:
    """A worker that a supervisor restarts whenever it ends (a Dask worker ends itself
    when it loses its scheduler)."""
    worker = (
        f"{sys.executable} -m distributed.cli.dask_worker tcp://127.0.0.1:{port} "
        f"--nthreads 2 --resources executor=2 --name {name} --no-dashboard"
    )
    loop = f"while :; do {worker}; sleep 0.3; done"
    processes.start(name, ["/bin/sh", "-c", loop], {"CHIMERA_NODE_KEY": key})


def chimera(*args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from chimera_engine.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


async def test_scheduler_down_and_back_loses_nothing(
    make_swarm: Callable[..., SwarmCoordinator],
    node: HeartNode,
    processes: Processes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    key = await node_key(node)
    sched = scheduler(processes, port)
    for name in ("wa", "wb"):
        supervised_worker(processes, port, name, key)
    swarm = make_swarm(
        backend="dask", scheduler_address=f"tcp://127.0.0.1:{port}", connect_timeout=1.0
    )
    await swarm.start()
    try:
        await until(lambda: sum(a.state.value == "ready" for a in swarm.agents()) == 2, 40)
        before = await swarm.submit_many(
            [Task(tool="add", inputs={"a": i, "b": 1}) for i in range(20)], OPERATOR
        )
        assert [(await swarm.wait(i.id, 30)).result for i in before] == list(range(1, 21))

        caplog.set_level(logging.WARNING, logger="chimera_engine.swarm.dask_link")
        processes.kill(sched)
        down = time.monotonic()
        await until(lambda: swarm.stats().scheduler_unreachable_since is not None, 15)
        assert all(a.state.value != "ready" for a in swarm.agents())
        waiting = await swarm.submit_many(
            [Task(tool="nap", inputs={"seconds": 0.02}) for _ in range(30)], OPERATOR
        )
        await asyncio.sleep(1.0)
        states = [(await swarm.task(i.id)).state for i in waiting]
        assert not any(s.final for s in states), states
        # the command reads the history with no engine and no scheduler, and acts on nothing
        await swarm.store.flush()
        listed = chimera("swarm", "tasks", "-n", "100", "--data-dir", str(node.settings.data_dir))
        assert listed.returncode == 0, listed.stderr
        assert all(i.id in listed.stdout for i in waiting)
        shown = chimera("swarm", "task", waiting[0].id, "--data-dir", str(node.settings.data_dir))
        assert shown.returncode == 0 and '"attempts": []' in shown.stdout, shown.stdout
        assert await swarm.store.attempts_of(waiting[0].id) == []

        await asyncio.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - down)))
        sched = scheduler(processes, port)
        done = [await swarm.wait(i.id, 60) for i in waiting]
        assert [d.state for d in done] == [TaskState.SUCCEEDED] * 30
        assert swarm.stats().scheduler_unreachable_since is None
        assert await swarm.store.count_results([i.id for i in [*before, *waiting]]) == 50
        warnings = [r for r in caplog.records if r.name.endswith("dask_link")]
        assert 1 <= len(warnings) <= 4, [r.getMessage() for r in warnings]  # no spam
    finally:
        await swarm.stop()
