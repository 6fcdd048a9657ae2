"""DaskBackend: the same swarm over a Dask ``distributed`` scheduler, for many machines.

Install the optional ``dask`` extra (``pip install 'chimera-console[dask]'``, which
brings ``distributed``) on the coordinator and on every worker machine. Agents
are Dask workers whose *resources* name their role (``executor=4`` means an
executor running four tasks at once) and, for required capabilities,
``cap-<name>``. Each attempt is submitted with those resource restrictions,
its priority and a unique key; the worker runs
:func:`chimera_engine.swarm.execution.run_payload`, which loads the shipped
tool version (cached per worker by content hash) and returns the result with
the worker's node credential, which the coordinator checks.

Running agents on other machines::

    # on the coordinator's machine (or any reachable host)
    dask scheduler --port 8786
    # [swarm] backend = "dask", scheduler_address = "tcp://scheduler-host:8786"
    # on each worker machine: a node key from `chimera apikey create --role node`
    CHIMERA_NODE_KEY=chk_... dask worker tcp://scheduler-host:8786 \\
        --nthreads 4 --resources "executor=4" --name executor-on-host-b

Use TLS between machines (``dask scheduler --tls-*`` options and a
``tls://`` address): results and node credentials travel over Dask's comms.
A worker that dies is handled by Dask (its tasks are rescheduled); a task
that kills ``distributed.scheduler.allowed-failures`` workers raises
``KilledWorker`` and is quarantined. Timeouts are enforced by the coordinator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from dataclasses import replace
from typing import Any

from chimera_engine.errors import AuthenticationError, NotFoundError
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.backend import Attempt, Sink
from chimera_engine.swarm.errors import (
    AgentStartError,
    BackendUnavailableError,
    SwarmNotRunningError,
)
from chimera_engine.swarm.execution import NODE_KEY_ENV, run_payload
from chimera_engine.swarm.models import AgentInfo, AgentSpec, AgentState, new_id
from chimera_engine.swarm.reputation import Reputation
from chimera_engine.swarm.settings import SwarmSettings

log = logging.getLogger(__name__)
CAPABILITY_PREFIX = "cap-"


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
    """A worker metric as a float (None if the scheduler did not report it)."""
    return float(value) if isinstance(value, int | float) else None


def worker_role(resources: dict[str, Any]) -> str:
    roles = [r for r in resources if not r.startswith(CAPABILITY_PREFIX)]
    return roles[0] if roles else ""


class DaskBackend:
    name = "dask"

    def __init__(self, settings: SwarmSettings) -> None:
        self.settings = settings
        self._client: Any = None
        self._sink: Sink | None = None
        self._node_key = ""
        self._workers: dict[str, dict[str, Any]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._pending: set[str] = set()
        self._futures: dict[str, Any] = {}
        self._books: dict[str, Reputation] = {}
        self._refreshing = False
        self._last_refresh = 0.0

    @property
    def sink(self) -> Sink:
        if self._sink is None:
            raise SwarmNotRunningError("the dask backend is not started")
        return self._sink

    async def start(self, sink: Sink, node_key: str) -> None:
        distributed = _import_distributed()
        address = self.settings.scheduler_address
        timeout = self.settings.connect_timeout
        try:
            client = distributed.Client(
                address, asynchronous=True, timeout=f"{timeout}s", set_as_default=False
            )
            self._client = await asyncio.wait_for(client, timeout + 1.0)
        except (OSError, TimeoutError) as exc:
            raise BackendUnavailableError(
                f"the Dask scheduler at {address} is unreachable: {exc or type(exc).__name__}"
            ) from None
        self._sink, self._node_key = sink, node_key
        await self._refresh()

    async def stop(self) -> None:
        for agent_id in list(self._procs):
            with contextlib.suppress(Exception):
                await self.stop_agent(agent_id, kill=False, reason="swarm stopping")
        for future in list(self._futures.values()):
            future.cancel()
        self._futures.clear()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None

    # -- workers ------------------------------------------------------------------------
    async def _refresh(self) -> None:
        if self._client is None or self._refreshing:
            return
        self._refreshing = True
        try:
            identity = await self._client.scheduler.identity()
            self._workers = dict(identity.get("workers", {}))
            self._last_refresh = time.monotonic()
        except Exception as exc:
            log.warning("dask: cannot read the scheduler's workers: %s", exc)
        finally:
            self._refreshing = False
        if self._sink is not None:
            self.sink.capacity_changed()

    def _info(self, address: str, worker: dict[str, Any]) -> AgentInfo:
        resources = dict(worker.get("resources") or {})
        name = str(worker.get("name", address))
        book = self._books.setdefault(name, Reputation(self.settings.initial_reputation))
        metrics = worker.get("metrics") or {}
        proc = self._procs.get(name)
        return AgentInfo(
            id=name,
            role=worker_role(resources),
            capabilities=tuple(
                sorted(
                    r[len(CAPABILITY_PREFIX) :]
                    for r in resources
                    if r.startswith(CAPABILITY_PREFIX)
                )
            ),
            concurrency=int(worker.get("nthreads", 1)),
            backend="dask",
            state=AgentState.READY,
            pid=proc.pid if proc is not None else None,
            host=str(worker.get("host", "")),
            started_at=0.0,
            ready_at=None,
            last_heartbeat=worker.get("last_seen"),
            in_flight=int(metrics.get("executing", 0) or 0),
            completed=book.successes,
            failed=book.failures,
            reputation=book.value,
            rss_bytes=int(metrics.get("memory", 0)),
            reason=address,
            cpu_percent=_number(metrics.get("cpu")),
        )

    def agents(self) -> list[AgentInfo]:
        return [self._info(a, w) for a, w in self._workers.items()]

    def live_count(self) -> int:
        return sum(1 for w in self._workers.values() if w.get("name") not in self._pending)

    def can_serve(self, role: str, requires: frozenset[str]) -> bool:
        for worker in self._workers.values():
            resources = worker.get("resources") or {}
            if role in resources and all(f"{CAPABILITY_PREFIX}{c}" in resources for c in requires):
                return True
        return False

    async def spawn(self, spec: AgentSpec) -> AgentInfo:
        """Start a ``dask worker`` process on this machine with the role as a resource."""
        _import_distributed()
        agent_id = f"{spec.role}-{new_id()[:8]}"
        resources = " ".join(
            [
                f"{spec.role}={spec.concurrency}",
                *(f"{CAPABILITY_PREFIX}{c}={spec.concurrency}" for c in sorted(spec.capabilities)),
            ]
        )
        env = {**os.environ, **spec.env, NODE_KEY_ENV: self._node_key, "CHIMERA_AGENT_ID": agent_id}
        self._pending.add(agent_id)
        try:
            proc = await asyncio.create_subprocess_exec(
                self.settings.python or sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                self.settings.scheduler_address,
                "--nthreads",
                str(spec.concurrency),
                "--nworkers",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--name",
                agent_id,
                "--resources",
                resources,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            self._procs[agent_id] = proc
            deadline = time.monotonic() + self.settings.ready_timeout
            while time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                if proc.returncode is not None:
                    raise AgentStartError(f"dask worker {agent_id} exited with {proc.returncode}")
                self._refreshing = False
                await self._refresh()
                for address, worker in self._workers.items():
                    if worker.get("name") == agent_id:
                        info = self._info(address, worker)
                        self.sink.on_agent(info, "ready")
                        return info
            proc.kill()
            raise AgentStartError(
                f"dask worker {agent_id} did not join the scheduler within "
                f"{self.settings.ready_timeout:g} s"
            )
        finally:
            self._pending.discard(agent_id)

    async def stop_agent(self, agent_id: str, *, kill: bool, reason: str) -> AgentInfo:
        address = next((a for a, w in self._workers.items() if w.get("name") == agent_id), None)
        info = self._info(address, self._workers[address]) if address else None
        proc = self._procs.pop(agent_id, None)
        if address is None and proc is None:
            raise NotFoundError(f"no agent {agent_id!r}")
        if proc is not None and kill:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        elif address is not None and self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.retire_workers([address], close_workers=True)
        if proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), self.settings.stop_grace)
            if proc.returncode is None:
                proc.kill()
        self._refreshing = False
        await self._refresh()
        state = AgentState.KILLED if kill else AgentState.STOPPED
        if info is None:
            info = AgentInfo(
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
        stopped = replace(info, state=state, reason=reason)
        self.sink.on_agent(stopped, "killed" if kill else "stopped")
        return stopped

    # -- attempts -------------------------------------------------------------------------
    def place(self, attempt: Attempt) -> bool:
        if self._client is None or self._client.status != "running":
            return False
        if not self.can_serve(attempt.role, attempt.requires):
            return False
        resources = {attempt.role: 1, **{f"{CAPABILITY_PREFIX}{c}": 1 for c in attempt.requires}}
        payload = {"bundle": dict(attempt.ref.bundle), "inputs": dict(attempt.inputs)}
        future = self._client.submit(
            run_payload,
            payload,
            key=f"chimera-{attempt.id}",
            resources=resources,
            priority=attempt.priority,
            pure=False,
            retries=0,
        )
        self._futures[attempt.id] = future
        attempt.agent = "dask"
        self.sink.spawn_task(self._watch(attempt, future), f"swarm-dask-{attempt.id}")
        return True

    async def _watch(self, attempt: Attempt, future: Any) -> None:
        distributed = _import_distributed()
        limit = attempt.timeout + self.settings.timeout_grace
        try:
            reply = await asyncio.wait_for(future, limit)
        except TimeoutError:
            future.cancel()
            if self._futures.pop(attempt.id, None) is not None:
                self.sink.on_done(
                    attempt,
                    {
                        "ok": False,
                        "code": "timeout",
                        "error": f"no result within {attempt.timeout:g} s",
                    },
                )
            return
        except asyncio.CancelledError:
            self._futures.pop(attempt.id, None)
            return
        except distributed.KilledWorker as exc:
            if self._futures.pop(attempt.id, None) is not None:
                self.sink.on_lost(
                    attempt, f"it killed every worker that ran it ({exc})", True, poisoned=True
                )
            return
        except Exception as exc:
            if self._futures.pop(attempt.id, None) is not None:
                self.sink.on_lost(attempt, f"dask: {type(exc).__name__}: {exc}", False)
            return
        if self._futures.pop(attempt.id, None) is None:
            return
        attempt.agent = str(reply.pop("worker", "") or attempt.agent)
        try:
            self._authenticate(str(reply.pop("node_key", "")))
        except AuthenticationError as exc:
            reply = {
                "ok": False,
                "code": "unauthenticated",
                "error": f"result refused: the worker has no valid node credentials ({exc})",
            }
        self._books.setdefault(attempt.agent, Reputation(self.settings.initial_reputation))
        self.sink.on_done(attempt, reply)

    def _authenticate(self, key: str) -> Principal:
        """Every result is checked (microseconds), so a revoked key stops counting at once."""
        return self.sink.authenticate(key)

    def cancel(self, attempt: Attempt) -> None:
        future = self._futures.pop(attempt.id, None)
        if future is not None:
            future.cancel()

    def reputation(self, agent_id: str) -> Reputation | None:
        return self._books.get(agent_id)

    def sweep(self, now: float) -> None:
        if now - self._last_refresh > 1.0 and not self._refreshing and self._sink is not None:
            self.sink.spawn_task(self._refresh(), "swarm-dask-refresh")
