"""Attempts on Dask workers: placement, batching, replies, cancel and the timeout backstop.

:class:`DaskDispatcher` is held by :class:`~chimera_engine.swarm.dask_backend.DaskBackend`
(the connection and the workers live there). It picks the worker and pins the
attempt to it. Attempts placed in one pass of the coordinator's queue are sent to a worker
in a few *batches* (one Dask task each, at most one batch per worker thread and
``BATCH_MAX`` attempts), since each Dask task costs the scheduler milliseconds of
CPU. A batch announces its start; each attempt in it is timed from its own start
on the worker. An attempt runs alone (its own Dask task, announcing its own start)
when it is a suspect: the coordinator isolates it after a crash, or it was in a
batch whose worker died (nobody knows which attempt of the batch was running, so
none is blamed, and each runs alone next so a poisonous one is caught by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chimera_engine.errors import AuthenticationError
from chimera_engine.swarm.backend import Attempt, Sink
from chimera_engine.swarm.dask_spawn import CAPABILITY_PREFIX
from chimera_engine.swarm.dask_worker import run_attempt, run_batch, stop_attempts
from chimera_engine.swarm.models import AgentState
from chimera_engine.swarm.reputation import Reputation
from chimera_engine.swarm.settings import SwarmSettings

BATCH_MAX = 32
WINDOW = 16  # attempts placed per worker thread (running, or queued on the worker)
_batch_ids = itertools.count(1)


@dataclass(eq=False)
class DaskWorker:
    address: str
    name: str
    resources: dict[str, Any]
    nthreads: int
    host: str
    joined_at: float
    state: AgentState = AgentState.STARTING
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    last_seen: float | None = None
    flights: set[str] = field(default_factory=set)
    pending: list[Attempt] = field(default_factory=list)
    bundles: set[str] = field(default_factory=set)
    isolated: str = ""
    recycled: bool = False


@dataclass(eq=False)
class Flight:
    """One Dask task: a single attempt, or a batch of them (``key`` names it)."""

    key: str
    future: Any
    worker: DaskWorker
    attempts: dict[str, Attempt]
    single: bool
    started: bool = False
    deadline: float = float("inf")
    watcher: Any = None


def serves(worker: DaskWorker, role: str, requires: frozenset[str]) -> bool:
    """Whether ``worker`` is ready and its resources name ``role`` and every capability."""
    res = worker.resources
    return (
        worker.state is AgentState.READY
        and role in res
        and all(f"{CAPABILITY_PREFIX}{c}" in res for c in requires)
    )


class DaskDispatcher:
    """Placement and results of the Dask backend. ``workers`` is the backend's table
    (address to worker, shared, read here); ``client`` and ``sink`` return the current
    connection (None while disconnected) and where results go; ``info_changed``
    reports a worker whose state this side changed (a refused node key)."""

    def __init__(
        self,
        settings: SwarmSettings,
        workers: dict[str, DaskWorker],
        *,
        client: Callable[[], Any],
        sink: Callable[[], Sink],
        info_changed: Callable[[DaskWorker, str], None],
    ) -> None:
        self.settings = settings
        self._workers = workers
        self._client = client
        self._sink = sink
        self._info_changed = info_changed
        self._flights: dict[str, Flight] = {}  # attempt id -> its Dask task
        self._by_key: dict[str, Flight] = {}  # Dask key -> Dask task
        self.books: dict[str, Reputation] = {}
        self._suspects: set[str] = set()
        self._flush_scheduled = False
        self._stops: dict[str, list[str]] = {}

    def flights(self, worker: DaskWorker | None = None) -> list[Flight]:
        """The Dask tasks in the air (on ``worker`` only, when given)."""
        unique = {id(f): f for f in self._flights.values()}
        return [f for f in unique.values() if worker is None or f.worker is worker]

    def forget(self) -> list[Flight]:
        """Stop tracking every Dask task (the backend is stopping); returns them."""
        flights = self.flights()
        self._flights.clear()
        self._by_key.clear()
        return flights

    # -- placing ----------------------------------------------------------------------------
    def _room(self, worker: DaskWorker) -> int:
        if worker.isolated:
            return 0
        return worker.nthreads * WINDOW - len(worker.flights)

    def place(self, attempt: Attempt) -> bool:
        client = self._client()
        if client is None or client.status != "running":
            return False
        best: DaskWorker | None = None
        fallback: DaskWorker | None = None
        for worker in self._workers.values():
            if not serves(worker, attempt.role, attempt.requires):
                continue
            if worker.name in attempt.apart or self._room(worker) <= 0:
                continue
            if attempt.isolate and worker.flights:
                continue
            load = len(worker.flights) / worker.nthreads
            if worker.name in attempt.exclude:
                if fallback is None or load < len(fallback.flights) / fallback.nthreads:
                    fallback = worker
            elif best is None or load < len(best.flights) / best.nthreads:
                best = worker
        chosen = best or fallback
        if chosen is None:
            return False
        attempt.agent, attempt.sent_at = chosen.name, time.monotonic()
        chosen.flights.add(attempt.id)
        if attempt.isolate or attempt.task_id in self._suspects:
            if attempt.isolate:
                chosen.isolated = attempt.id
            self._send(client, chosen, [attempt])
            return True
        chosen.pending.append(attempt)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return True

    def _flush(self) -> None:
        self._flush_scheduled = False
        client = self._client()
        for worker in self._workers.values():
            pending, worker.pending = worker.pending, []
            if not pending:
                continue
            if client is None:
                for attempt in pending:
                    worker.flights.discard(attempt.id)
                    self._sink().on_lost(attempt, "the Dask scheduler connection was lost", False)
                continue
            busy = sum(1 for f in self._by_key.values() if f.worker is worker)
            chunks = max(1, min(len(pending), worker.nthreads - busy))
            size = min(BATCH_MAX, -(-len(pending) // chunks))
            for i in range(0, len(pending), size):
                self._send(client, worker, pending[i : i + size])

    def _send(
        self, client: Any, worker: DaskWorker, attempts: list[Attempt], resend: int = 0
    ) -> None:
        items = []
        for attempt in attempts:
            key = attempt.ref.key
            bundle = None if key in worker.bundles else dict(attempt.ref.bundle)
            worker.bundles.add(key)
            items.append((attempt.id, key, bundle, dict(attempt.inputs), attempt.timeout))
        single = len(attempts) == 1
        suffix = f"-r{resend}" if resend else ""
        if single:
            name = f"chimera-{attempts[0].id}{suffix}"
            future = client.submit(
                run_attempt,
                *items[0],
                key=name,
                workers=[worker.address],
                allow_other_workers=False,
                pure=False,
                priority=attempts[0].priority,
            )
        else:
            name = f"chimera-batch-{next(_batch_ids)}-{attempts[0].id}{suffix}"
            future = client.submit(
                run_batch,
                name,
                items,
                key=name,
                workers=[worker.address],
                allow_other_workers=False,
                pure=False,
                priority=max(a.priority for a in attempts),
            )
        flight = Flight(name, future, worker, {a.id: a for a in attempts}, single)
        self._by_key[name] = flight
        for attempt in attempts:
            self._flights[attempt.id] = flight
        flight.watcher = self._sink().spawn_task(self._watch(flight, resend), f"swarm-dask-{name}")

    def _drop(self, flight: Flight, attempt_id: str) -> Attempt | None:
        attempt = flight.attempts.pop(attempt_id, None)
        if self._flights.get(attempt_id) is flight:
            del self._flights[attempt_id]
        flight.worker.flights.discard(attempt_id)
        if flight.worker.isolated == attempt_id:
            flight.worker.isolated = ""
        if not flight.attempts:
            self._by_key.pop(flight.key, None)
        return attempt

    # -- hearing back ---------------------------------------------------------------------
    def on_start(self, event: Any) -> None:
        _, msg = event
        flight = self._by_key.get(str(msg.get("key", ""))) or self._flights.get(
            str(msg.get("attempt", ""))
        )
        if flight is None or flight.started:
            return
        flight.started = True
        total = sum(a.timeout for a in flight.attempts.values())
        flight.deadline = time.monotonic() + total + self.settings.timeout_grace
        for attempt in flight.attempts.values():
            attempt.running = True
            attempt.started_wall = time.time()
            self._sink().on_started(attempt)

    def lose(self, flight: Flight, reason: str, crash: bool) -> None:
        """Every attempt still in ``flight`` is reassigned; only a single attempt that
        had started is blamed (``crash``)."""
        for attempt_id in list(flight.attempts):
            attempt = self._drop(flight, attempt_id)
            if attempt is None:
                continue
            if not flight.single:
                self._suspects.add(attempt.task_id)
            self._sink().on_lost(attempt, reason, crash and flight.single and flight.started)
        self._sink().capacity_changed()

    async def _watch(self, flight: Flight, resend: int) -> None:
        try:
            answer = await flight.future
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            distributed = _distributed()
            if distributed is not None and isinstance(exc, distributed.KilledWorker):
                reason = f"its worker died ({exc})"
            else:
                reason = f"dask: {type(exc).__name__}: {exc}"
            self.lose(flight, reason, True)
            return
        if not flight.attempts:
            return
        worker = flight.worker
        try:
            self._sink().authenticate(str(answer.get("node_key", "")))
        except AuthenticationError as exc:
            worker.state, worker.reason = AgentState.REFUSED, f"node key refused: {exc}"
            self._info_changed(worker, "refused")
            self.lose(flight, "its worker's node key was refused", False)
            return
        answer.pop("node_key", None)
        replies = answer.get("replies") or [(flight.key, answer)]
        missing: list[Attempt] = []
        for attempt_id, reply in replies:
            attempt_id = next(iter(flight.attempts)) if flight.single else attempt_id
            attempt = self._drop(flight, attempt_id)
            if attempt is None:
                continue
            if reply.get("code") == "bundle_missing" and resend < 2:
                worker.bundles.discard(attempt.ref.key)
                worker.flights.add(attempt.id)
                missing.append(attempt)
                continue
            if reply.get("started"):
                attempt.started_wall = float(reply["started"])
            attempt.agent = str(answer.get("worker") or worker.name)
            self.books.setdefault(attempt.agent, Reputation(self.settings.initial_reputation))
            self._suspects.discard(attempt.task_id)
            self._sink().on_done(attempt, reply)
        if missing and self._client() is not None:
            for attempt in missing:
                self._send(self._client(), worker, [attempt], resend + 1)
        self._sink().capacity_changed()

    def reputation(self, agent_id: str) -> Reputation | None:
        return self.books.get(agent_id)

    # -- cancel and timeouts -------------------------------------------------------------
    def cancel_future(self, future: Any) -> None:
        client = self._client()
        if client is not None:
            self._sink().spawn_task(_quietly(client.cancel([future])), "swarm-dask-cancel")

    def cancel(self, attempt: Attempt) -> None:
        """Cancel a queued attempt (its Dask future, or its place in a batch) and stop a
        running one on its worker."""
        flight = self._flights.get(attempt.id)
        if flight is None:
            worker = next((w for w in self._workers.values() if attempt in w.pending), None)
            if worker is not None:
                worker.pending.remove(attempt)
                worker.flights.discard(attempt.id)
            return
        self._drop(flight, attempt.id)
        client = self._client()
        if not flight.attempts:
            self.cancel_future(flight.future)
        if client is not None:  # a batch skips it; a running attempt is stopped
            self._stops.setdefault(flight.worker.address, []).append(attempt.id)
            if len(self._stops) == 1 and len(self._stops[flight.worker.address]) == 1:
                asyncio.get_running_loop().call_soon(self._send_stops)
        self._sink().capacity_changed()

    def _send_stops(self) -> None:
        """Every stop asked for in one loop iteration goes to its worker in one message."""
        stops, self._stops = self._stops, {}
        client = self._client()
        if client is None:
            return
        for address, ids in stops.items():
            job = client.run(stop_attempts, ids, workers=[address])
            self._sink().spawn_task(_quietly(job), "swarm-dask-stop")

    def _recycle(self, worker: DaskWorker) -> None:
        """A thread the worker could not stop (stuck in C code): restart the worker through
        its nanny; its other attempts are reassigned without blame."""
        client = self._client()
        if client is None or worker.recycled:
            return
        worker.recycled = True
        worker.reason = "restarted: a timed-out attempt would not stop"
        job = client.restart_workers([worker.address], raise_for_error=False)
        self._sink().spawn_task(_quietly(job), "swarm-dask-recycle")

    def sweep(self, now: float) -> None:
        """The coordinator's backstop for work that overran its worker-side timeouts."""
        overdue = {id(f): f for f in self._flights.values() if f.started and f.deadline < now}
        for flight in overdue.values():
            for attempt in list(flight.attempts.values()):
                self.cancel(attempt)
                self._sink().on_done(
                    attempt,
                    {
                        "ok": False,
                        "code": "timeout",
                        "error": f"no result within {attempt.timeout:g} s of its start "
                        f"(worker {flight.worker.name} did not stop it)",
                    },
                )
            self._recycle(flight.worker)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        return None
    return distributed


async def _quietly(job: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(job, 10.0)
