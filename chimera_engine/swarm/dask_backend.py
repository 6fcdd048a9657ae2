"""DaskBackend: the same swarm over a Dask ``distributed`` scheduler, for many machines.

Install the optional ``dask`` extra (``pip install 'chimera-console[dask]'``, which
brings ``distributed``) on the coordinator and on every worker machine. Agents
are Dask workers whose *resources* name their role (``executor=4``) and, for
required capabilities, ``cap-<name>``.

How the guarantees hold on Dask:

* **Connection**: :class:`~.dask_link.SchedulerLink` reconnects with backoff for
  as long as the swarm runs; while the scheduler is unreachable, attempts wait
  in the coordinator's queue and ``status()`` says since when. Attempts that
  were on the cluster when the connection was lost are reassigned (not counted
  against the task).
* **Workers prove themselves**: each worker that joins is asked for its node key
  (:func:`~.dask_worker.present_node_key`); only workers whose key is valid get
  work. Joins, refusals and deaths are agent events (audited by the coordinator).
* **Placement** (:class:`~.dask_dispatch.DaskDispatcher`, which the backend
  holds): the backend chooses the worker and pins
  each attempt to it (``workers=[address]``, ``allow_other_workers=False``), a
  bounded number per worker thread, so the rest of the queue stays in the
  coordinator, replicas of a task run on distinct workers, and a suspect task runs
  alone; attempts placed together travel in batches.
* **Started means started**: each Dask task announces its start (a
  ``chimera-start`` event through the scheduler). Timeouts count from there (enforced on the
  worker; the coordinator's deadline adds ``timeout_grace``), and a worker's
  death counts against a task only if the task had started on it.
* **Tool code by hash**: a bundle travels once per worker; later attempts carry
  only its key.

Running agents on other machines::

    dask scheduler --port 8786
    # [swarm] backend = "dask", scheduler_address = "tcp://scheduler-host:8786"
    # on each worker machine, a node key from `chimera key create --node --name NAME`
    CHIMERA_NODE_KEY=chk_... dask worker tcp://scheduler-host:8786 \\
        --nthreads 4 --resources "executor=4" --name executor-on-host-b

Use TLS between machines (``tls://`` addresses): node keys travel over Dask's comms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import replace
from typing import Any

from chimera_engine.errors import AuthenticationError, NotFoundError
from chimera_engine.swarm.backend import Attempt, Sink
from chimera_engine.swarm.dask_dispatch import DaskDispatcher, DaskWorker, serves
from chimera_engine.swarm.dask_link import SchedulerLink
from chimera_engine.swarm.dask_spawn import CAPABILITY_PREFIX, spawn_worker
from chimera_engine.swarm.dask_worker import (
    START_TOPIC,
    present_node_key,
)
from chimera_engine.swarm.errors import BackendUnavailableError, SwarmNotRunningError
from chimera_engine.swarm.models import AgentInfo, AgentSpec, AgentState
from chimera_engine.swarm.reputation import Reputation
from chimera_engine.swarm.settings import SwarmSettings

log = logging.getLogger(__name__)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise BackendUnavailableError(
            "the dask backend needs the optional 'dask' extra (the distributed package): "
            "pip install 'chimera-console[dask]'"
        ) from None
    return distributed


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def worker_role(resources: dict[str, Any]) -> str:
    roles = [r for r in resources if not r.startswith(CAPABILITY_PREFIX)]
    return roles[0] if roles else ""


class DaskBackend:
    name = "dask"

    def __init__(self, settings: SwarmSettings) -> None:
        self.settings = settings
        self._sink: Sink | None = None
        self._node_key = ""
        self._link: SchedulerLink | None = None
        self._workers: dict[str, DaskWorker] = {}
        self._departed: deque[AgentInfo] = deque(maxlen=32)
        self._dispatch = DaskDispatcher(
            settings,
            self._workers,
            client=lambda: self.client,
            sink=lambda: self.sink,
            info_changed=self._info_changed,
        )
        self._books = self._dispatch.books
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._pending: set[str] = set()
        self._leaving: set[str] = set()

    @property
    def sink(self) -> Sink:
        if self._sink is None:
            raise SwarmNotRunningError("the dask backend is not started")
        return self._sink

    @property
    def client(self) -> Any:
        return self._link.client if self._link is not None else None

    # -- connection -----------------------------------------------------------------------
    async def start(self, sink: Sink, node_key: str) -> None:
        """Try to connect once; whether or not it works, keep (re)connecting in the
        background, so an engine started before its scheduler joins it later."""
        # importing distributed takes a second or two: not on the event loop
        await asyncio.get_running_loop().run_in_executor(None, _import_distributed)
        self._sink, self._node_key = sink, node_key
        self._link = SchedulerLink(
            self.settings.scheduler_address,
            self.settings.connect_timeout,
            on_connect=self._connected,
            on_loss=self._lost,
        )
        await self._link.connect_once()
        sink.spawn_task(self._link.run(self._refresh, 0.5), "swarm-dask-link")

    def status(self) -> dict[str, Any]:
        link = self._link
        since = link.unreachable_since if link is not None else None
        return {
            "scheduler": self.settings.scheduler_address,
            "connected": bool(link is not None and link.connected),
            "unreachable_since": since,
            "error": link.last_error if link is not None and since is not None else "",
        }

    async def _connected(self, client: Any) -> None:
        client.subscribe_topic(START_TOPIC, self._dispatch.on_start)
        await self._refresh(client)

    def _lost(self, reason: str) -> None:
        why = f"the Dask scheduler connection was lost ({reason})"
        for flight in self._dispatch.flights():
            self._dispatch.lose(flight, why, False)
        for worker in list(self._workers.values()):
            self._lose_pending(worker, why)
            del self._workers[worker.address]
            worker.state, worker.reason = AgentState.DEAD, "the scheduler is unreachable"
            self._info_changed(worker, "unreachable")
        self.sink.capacity_changed()

    async def stop(self) -> None:
        for agent_id in list(self._procs):
            with contextlib.suppress(Exception):
                await self.stop_agent(agent_id, kill=False, reason="swarm stopping")
        client = self.client
        flights = self._dispatch.forget()
        watchers = [f.watcher for f in flights if f.watcher is not None]
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        if client is not None and flights:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.cancel([f.future for f in flights]), 2.0)
        for flight in flights:  # released while the client's loop still runs
            with contextlib.suppress(Exception):
                flight.future.release()
        flights.clear()
        if self._link is not None:
            await self._link.close()

    # -- workers ------------------------------------------------------------------------
    async def _refresh(self, client: Any) -> None:
        identity = await client.scheduler.identity()
        seen: dict[str, dict[str, Any]] = dict(identity.get("workers", {}))
        for address, raw in seen.items():
            worker = self._workers.get(address)
            if worker is None:
                worker = self._workers[address] = DaskWorker(
                    address=address,
                    name=str(raw.get("name", address)),
                    resources=dict(raw.get("resources") or {}),
                    nthreads=int(raw.get("nthreads", 1)),
                    host=str(raw.get("host", "")),
                    joined_at=time.time(),
                )
                self.sink.spawn_task(self._verify(client, worker), f"swarm-dask-verify-{address}")
            worker.metrics = dict(raw.get("metrics") or {})
            worker.last_seen = _number(raw.get("last_seen"))
        for address in [a for a in self._workers if a not in seen]:
            self._gone(self._workers.pop(address))
        self._reap()

    def _reap(self) -> None:
        """Worker processes this backend started that exited (a Dask worker ends itself
        when it loses the scheduler) are reported dead, so the coordinator replaces them."""
        for name, proc in list(self._procs.items()):
            if proc.returncode is None or name in self._pending or name in self._leaving:
                continue
            if any(w.name == name for w in self._workers.values()):
                continue
            del self._procs[name]
            info = _gone_info(name, AgentState.DEAD, f"worker process exited ({proc.returncode})")
            self._departed.append(info)
            self.sink.on_agent(info, "died")

    async def _verify(self, client: Any, worker: DaskWorker) -> None:
        """Ask a joining worker for its node key; only a valid key makes it ready."""
        try:
            answers = await client.run(present_node_key, workers=[worker.address])
            key = str(answers.get(worker.address, {}).get("key", ""))
            self.sink.authenticate(key)
        except AuthenticationError as exc:
            worker.state, worker.reason = AgentState.REFUSED, f"invalid node key: {exc}"
        except Exception as exc:
            worker.state, worker.reason = AgentState.REFUSED, f"no node key presented: {exc}"
        else:
            worker.state, worker.reason = AgentState.READY, ""
        if self._workers.get(worker.address) is not worker:
            return
        ready = worker.state is AgentState.READY
        self._info_changed(worker, "joined" if ready else "refused")
        if ready:
            self.sink.capacity_changed()

    def _gone(self, worker: DaskWorker) -> None:
        """A worker left the cluster: its attempts are reassigned (a crash for the task
        only if it had started there)."""
        why = f"worker {worker.name} left the cluster"
        self._lose_pending(worker, why)
        for flight in self._dispatch.flights(worker):
            self._dispatch.cancel_future(flight.future)
            self._dispatch.lose(flight, why, not worker.recycled)
        if worker.name in self._leaving or worker.state is AgentState.REFUSED:
            return
        worker.state = AgentState.DEAD
        worker.reason = worker.reason or "the worker left the cluster"
        self._info_changed(worker, "recycled" if worker.recycled else "died")
        self.sink.capacity_changed()

    def _lose_pending(self, worker: DaskWorker, why: str) -> None:
        pending, worker.pending = worker.pending, []
        for attempt in pending:
            worker.flights.discard(attempt.id)
            self.sink.on_lost(attempt, why, False)

    def _info_changed(self, worker: DaskWorker, change: str) -> None:
        info = self._info(worker)
        if info.state.final:
            self._departed.append(info)
        self.sink.on_agent(info, change)

    def _info(self, worker: DaskWorker) -> AgentInfo:
        book = self._books.setdefault(worker.name, Reputation(self.settings.initial_reputation))
        proc = self._procs.get(worker.name)
        metrics = worker.metrics
        return AgentInfo(
            id=worker.name,
            role=worker_role(worker.resources),
            capabilities=tuple(
                sorted(
                    r[len(CAPABILITY_PREFIX) :]
                    for r in worker.resources
                    if r.startswith(CAPABILITY_PREFIX)
                )
            ),
            concurrency=worker.nthreads,
            backend="dask",
            state=worker.state,
            pid=proc.pid if proc is not None else None,
            host=worker.host,
            started_at=worker.joined_at,
            ready_at=worker.joined_at if worker.state is AgentState.READY else None,
            last_heartbeat=worker.last_seen,
            in_flight=len(worker.flights),
            completed=book.successes,
            failed=book.failures,
            reputation=book.value,
            rss_bytes=int(metrics.get("memory", 0) or 0),
            reason=worker.reason or worker.address,
            cpu_percent=_number(metrics.get("cpu")),
        )

    def agents(self) -> list[AgentInfo]:
        """Workers the scheduler knows (ready, refused, still proving their key), then the
        ones that died or became unreachable lately (the Swarm panel shows both)."""
        live = [self._info(w) for w in self._workers.values()]
        names = {a.id for a in live}
        gone: dict[str, AgentInfo] = {}
        for info in self._departed:
            if info.id not in names:
                gone[info.id] = info
        return live + list(gone.values())

    def live_count(self) -> int:
        return sum(
            1
            for w in self._workers.values()
            if w.state is AgentState.READY and w.name not in self._pending
        )

    def can_serve(self, role: str, requires: frozenset[str]) -> bool:
        return any(serves(w, role, requires) for w in self._workers.values())

    async def spawn(self, spec: AgentSpec) -> AgentInfo:
        """Start a ``dask worker`` process on this machine with the role as a resource;
        returns once it joined and proved its node key."""
        _import_distributed()
        agent_id, proc = await spawn_worker(
            self.settings, spec, self._node_key, self._pending, self._procs
        )
        try:
            deadline = time.monotonic() + self.settings.ready_timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                if proc.returncode is not None:
                    raise BackendUnavailableError(
                        f"dask worker {agent_id} exited with {proc.returncode}"
                    )
                for worker in self._workers.values():
                    if worker.name == agent_id and worker.state is AgentState.READY:
                        return self._info(worker)
            proc.kill()
            self._procs.pop(agent_id, None)
            raise BackendUnavailableError(
                f"dask worker {agent_id} did not join the scheduler at "
                f"{self.settings.scheduler_address} within {self.settings.ready_timeout:g} s"
            )
        finally:
            self._pending.discard(agent_id)

    async def stop_agent(self, agent_id: str, *, kill: bool, reason: str) -> AgentInfo:
        worker = next((w for w in self._workers.values() if w.name == agent_id), None)
        proc = self._procs.pop(agent_id, None)
        if worker is None and proc is None:
            raise NotFoundError(f"no agent {agent_id!r}")
        self._leaving.add(agent_id)
        state = AgentState.KILLED if kill else AgentState.STOPPED
        info = self._info(worker) if worker is not None else _gone_info(agent_id, state, reason)
        try:
            if proc is not None and kill:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            elif worker is not None and self.client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self.client.retire_workers([worker.address], close_workers=True),
                        self.settings.stop_grace,
                    )
            if proc is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), self.settings.stop_grace)
                if proc.returncode is None:
                    proc.kill()
            if worker is not None and self._workers.get(worker.address) is worker:
                self._gone(self._workers.pop(worker.address))
        finally:
            self._leaving.discard(agent_id)
        stopped = replace(info, state=state, reason=reason)
        self._departed.append(stopped)
        self.sink.on_agent(stopped, "killed" if kill else "stopped")
        return stopped

    # -- attempts (the dispatcher's) -------------------------------------------------------
    def place(self, attempt: Attempt) -> bool:
        return self._dispatch.place(attempt)

    def cancel(self, attempt: Attempt) -> None:
        self._dispatch.cancel(attempt)

    def reputation(self, agent_id: str) -> Reputation | None:
        return self._dispatch.reputation(agent_id)

    def sweep(self, now: float) -> None:
        self._dispatch.sweep(now)


def _gone_info(agent_id: str, state: AgentState, reason: str) -> AgentInfo:
    return AgentInfo(
        id=agent_id,
        role="",
        capabilities=(),
        concurrency=0,
        backend="dask",
        state=state,
        pid=None,
        host="",
        started_at=0.0,
        ready_at=None,
        last_heartbeat=None,
        in_flight=0,
        completed=0,
        failed=0,
        reputation=0.0,
        rss_bytes=0,
        reason=reason,
    )
