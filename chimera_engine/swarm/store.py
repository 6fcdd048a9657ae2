"""SwarmStore: the swarm's persistence, batched so thousands of tasks per second are cheap.

Every write made during one loop iteration goes to the database writer thread
as one job (one transaction). Submissions (:meth:`insert_tasks`) and final
states with results (:meth:`finish`) are awaited until committed, so a task a
caller was told about, or a result a caller saw, survives a crash. Interim
state changes and attempt rows are write-behind (coalesced per task). Call
everything from the event-loop thread.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from chimera_engine.errors import ValidationError
from chimera_engine.store.db import Database
from chimera_engine.swarm.models import UNFINISHED, ConsensusPolicy, Task, TaskState

log = logging.getLogger(__name__)

_INSERT = (
    "INSERT INTO swarm_tasks(id, graph_id, idem_key, tool, tool_version, prompt, inputs, role, "
    "requires, priority, deadline, redundancy, consensus, depends_on, timeout, max_attempts, "
    "retries, state, submitted_by, created_at, updated_at) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(idem_key) DO NOTHING"
)
_COLUMNS = (
    "t.id, t.graph_id, t.idem_key, t.tool, t.tool_version, t.prompt, t.inputs, t.role, t.requires, "
    "t.priority, t.deadline, t.redundancy, t.consensus, t.depends_on, t.timeout, t.max_attempts, "
    "t.retries, t.state, t.attempts, t.crashes, t.agent, t.error, t.error_code, t.ran_version, "
    "t.outcome, t.created_at, t.updated_at, t.finished_at, r.value"
)
_SELECT = (
    f"SELECT {_COLUMNS} FROM swarm_tasks t LEFT JOIN swarm_results r ON r.idem_key = t.idem_key"
)
_UPDATABLE = frozenset(
    {
        "state",
        "attempts",
        "crashes",
        "agent",
        "error",
        "error_code",
        "ran_version",
        "outcome",
        "updated_at",
        "finished_at",
    }
)


@dataclass(kw_only=True)
class StoredTask:
    """A task row as read back: the task plus its recorded progress."""

    task: Task
    state: TaskState
    attempts: int = 0
    crashes: int = 0
    agent: str = ""
    error: str = ""
    error_code: str = ""
    ran_version: int | None = None
    outcome: dict[str, Any] | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None
    result: Any = None
    has_result: bool = False


@functools.lru_cache(maxsize=64)
def _policy_json(policy: ConsensusPolicy) -> str:
    return json.dumps(policy.to_json())


def task_row(task: Task, state: TaskState, submitted_by: str, now: float) -> tuple[Any, ...]:
    return (
        task.id,
        task.graph_id,
        task.key,
        task.tool,
        task.tool_version,
        task.prompt,
        json.dumps(dict(task.inputs)),
        task.role,
        json.dumps(sorted(task.requires)) if task.requires else "[]",
        task.priority,
        task.deadline,
        task.redundancy,
        _policy_json(task.consensus),
        json.dumps(list(task.depends_on)) if task.depends_on else "[]",
        task.timeout,
        task.max_attempts,
        task.retries,
        state.value,
        submitted_by,
        now,
        now,
    )


def _from_row(row: tuple[Any, ...]) -> StoredTask:
    task = Task(
        id=row[0],
        graph_id=row[1],
        idempotency_key=row[2],
        tool=row[3],
        tool_version=row[4],
        prompt=row[5],
        inputs=json.loads(row[6]),
        role=row[7],
        requires=frozenset(json.loads(row[8])),
        priority=row[9],
        deadline=row[10],
        redundancy=row[11],
        consensus=ConsensusPolicy.from_json(json.loads(row[12])),
        depends_on=tuple(json.loads(row[13])),
        timeout=row[14],
        max_attempts=row[15],
        retries=row[16],
    )
    return StoredTask(
        task=task,
        state=TaskState(row[17]),
        attempts=row[18],
        crashes=row[19],
        agent=row[20],
        error=row[21],
        error_code=row[22],
        ran_version=row[23],
        outcome=json.loads(row[24]) if row[24] else None,
        created_at=row[25],
        updated_at=row[26],
        finished_at=row[27],
        result=json.loads(row[28]) if row[28] is not None else None,
        has_result=row[28] is not None,
    )


@dataclass
class _Batch:
    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    finishes: list[tuple[str, dict[str, Any], tuple[Any, ...] | None]] = field(default_factory=list)
    attempts: list[tuple[Any, ...]] = field(default_factory=list)
    agents: dict[str, tuple[Any, ...]] = field(default_factory=dict)


def _set_clause(fields: dict[str, Any]) -> tuple[str, list[Any]]:
    names = sorted(fields)
    return ", ".join(f"{n} = ?" for n in names), [fields[n] for n in names]


def _run_batch(conn: sqlite3.Connection, batch: _Batch) -> tuple[list[str | None], list[bool]]:
    inserted: list[str | None] = []
    for row in batch.inserts:
        try:
            cur = conn.execute(_INSERT, row)
        except sqlite3.IntegrityError:
            inserted.append("\x00id")  # the id is taken by a task with another key
            continue
        if cur.rowcount == 1:
            inserted.append(None)
        else:
            found = conn.execute("SELECT id FROM swarm_tasks WHERE idem_key = ?", (row[2],))
            inserted.append(str(found.fetchone()[0]))
    for task_id, fields in batch.updates.items():
        clause, values = _set_clause(fields)
        conn.execute(f"UPDATE swarm_tasks SET {clause} WHERE id = ?", (*values, task_id))
    recorded: list[bool] = []
    for task_id, fields, result in batch.finishes:
        clause, values = _set_clause(fields)
        conn.execute(f"UPDATE swarm_tasks SET {clause} WHERE id = ?", (*values, task_id))
        if result is None:
            recorded.append(False)
            continue
        cur = conn.execute(
            "INSERT INTO swarm_results(idem_key, task_id, value, agents, recorded_at) "
            "VALUES (?,?,?,?,?) ON CONFLICT(idem_key) DO NOTHING",
            result,
        )
        recorded.append(cur.rowcount == 1)
    if batch.attempts:
        conn.executemany(
            "INSERT OR REPLACE INTO swarm_attempts(id, task_id, replica, agent, tool_version, "
            "outcome, error, started_at, ended_at, ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
            batch.attempts,
        )
    if batch.agents:
        conn.executemany(
            "INSERT OR REPLACE INTO swarm_agents(id, role, capabilities, concurrency, backend, "
            "host, pid, state, reason, started_at, ready_at, stopped_at, completed, failed, "
            "reputation) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            list(batch.agents.values()),
        )
    return inserted, recorded


def _query(sql: str, params: Sequence[Any]) -> Callable[[sqlite3.Connection], list[Any]]:
    def run(conn: sqlite3.Connection) -> list[Any]:
        return conn.execute(sql, params).fetchall()

    return run


class SwarmStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._batch = _Batch()
        self._insert_waiters: list[asyncio.Future[str | None]] = []
        self._finish_waiters: list[asyncio.Future[bool]] = []
        self._scheduled = False
        self._in_flight: set[asyncio.Future[Any]] = set()
        self.flushes = 0

    # -- queued writes ------------------------------------------------------------------
    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def insert_tasks(self, rows: Sequence[tuple[Any, ...]]) -> list[str | None]:
        """Insert task rows; per row None (inserted) or the id of the existing task holding
        the same idempotency key. ValidationError if a task id is already in use."""
        loop = asyncio.get_running_loop()
        futures = []
        for row in rows:
            future: asyncio.Future[str | None] = loop.create_future()
            self._batch.inserts.append(row)
            self._insert_waiters.append(future)
            futures.append(future)
        self._schedule()
        results = list(await asyncio.gather(*futures))
        for row, found in zip(rows, results, strict=True):
            if found == "\x00id":
                raise ValidationError(f"task id {row[0]!r} is already used by another task")
        return results

    def update(self, task_id: str, **fields: Any) -> None:
        """Write-behind change of an unfinished task's columns (coalesced)."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {unknown}")
        self._batch.updates.setdefault(task_id, {}).update(fields)
        self._schedule()

    async def finish(
        self,
        task_id: str,
        fields: dict[str, Any],
        result: tuple[str, Any, Sequence[str], float] | None,
    ) -> bool:
        """Record a final state (and the result ``(key, value, agents, at)``); True if the
        result was recorded now, False if that idempotency key already had one."""
        merged = self._batch.updates.pop(task_id, {})
        merged.update(fields)
        row = None
        if result is not None:
            key, value, agents, at = result
            row = (key, task_id, json.dumps(value), json.dumps(list(agents)), at)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._batch.finishes.append((task_id, merged, row))
        self._finish_waiters.append(future)
        self._schedule()
        return await future

    def attempt(self, row: tuple[Any, ...]) -> None:
        """Write-behind: one finished attempt (id, task, replica, agent, version, outcome,
        error, started_at, ended_at, ms)."""
        self._batch.attempts.append(row)
        self._schedule()

    def agent(self, row: tuple[Any, ...]) -> None:
        """Write-behind upsert of an agent row (see the swarm_agents columns)."""
        self._batch.agents[str(row[0])] = row
        self._schedule()

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._batch = self._batch, _Batch()
        inserts, self._insert_waiters = self._insert_waiters, []
        finishes, self._finish_waiters = self._finish_waiters, []
        if not (batch.inserts or batch.updates or batch.finishes or batch.attempts or batch.agents):
            return
        self.flushes += 1
        try:
            written = asyncio.wrap_future(self._db.submit(lambda c: _run_batch(c, batch)))
        except Exception as exc:
            self._fail(inserts, finishes, exc)
            return
        self._in_flight.add(written)

        def done(f: asyncio.Future[tuple[list[str | None], list[bool]]]) -> None:
            self._in_flight.discard(f)
            if f.cancelled() or f.exception() is not None:
                exc = f.exception() if not f.cancelled() else asyncio.CancelledError()
                log.error("swarm store write failed: %s", exc)
                self._fail(inserts, finishes, exc or RuntimeError("write failed"))
                return
            ins, rec = f.result()
            for insert_waiter, value in zip(inserts, ins, strict=True):
                if not insert_waiter.done():
                    insert_waiter.set_result(value)
            for finish_waiter, flag in zip(finishes, rec, strict=True):
                if not finish_waiter.done():
                    finish_waiter.set_result(flag)

        written.add_done_callback(done)

    @staticmethod
    def _fail(
        inserts: list[asyncio.Future[str | None]],
        finishes: list[asyncio.Future[bool]],
        exc: BaseException,
    ) -> None:
        waiters: list[asyncio.Future[Any]] = [*inserts, *finishes]
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(exc)

    async def flush(self) -> None:
        """Wait until everything queued so far is committed. Cancelling the caller
        leaves the writes alone (they are shielded)."""
        if self._scheduled:
            self._flush()
        while self._in_flight:
            pending = (asyncio.shield(f) for f in tuple(self._in_flight))
            await asyncio.gather(*pending, return_exceptions=True)

    # -- reads ------------------------------------------------------------------------------
    async def load_unfinished(self) -> list[StoredTask]:
        marks = ",".join("?" * len(UNFINISHED))
        rows = await self._db.read(
            lambda c: c.execute(
                f"{_SELECT} WHERE t.state IN ({marks}) ORDER BY t.created_at, t.rowid",
                [s.value for s in UNFINISHED],
            ).fetchall()
        )
        return [_from_row(r) for r in rows]

    async def load(self, ids: Sequence[str]) -> dict[str, StoredTask]:
        if not ids:
            return {}
        found: dict[str, StoredTask] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = await self._db.read(_query(f"{_SELECT} WHERE t.id IN ({marks})", chunk))
            found.update((r[0], _from_row(r)) for r in rows)
        return found

    async def history(
        self, *, limit: int = 100, state: TaskState | None = None, graph_id: str | None = None
    ) -> list[StoredTask]:
        """The newest tasks first, optionally of one state or one graph."""
        where, params = [], []
        if state is not None:
            where.append("t.state = ?")
            params.append(state.value)
        if graph_id is not None:
            where.append("t.graph_id = ?")
            params.append(graph_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self._db.read(
            lambda c: c.execute(
                f"{_SELECT} {clause} ORDER BY t.created_at DESC LIMIT ?",
                (*params, max(1, min(limit, 10_000))),
            ).fetchall()
        )
        return [_from_row(r) for r in rows]

    async def attempts_of(self, task_id: str) -> list[dict[str, Any]]:
        """The task's attempts, oldest first, including those recorded a moment ago
        (write-behind rows are committed first)."""
        await self.flush()
        rows = await self._db.read(
            lambda c: c.execute(
                "SELECT id, replica, agent, tool_version, outcome, error, started_at, ended_at, ms "
                "FROM swarm_attempts WHERE task_id = ? ORDER BY started_at",
                (task_id,),
            ).fetchall()
        )
        names = (
            "id",
            "replica",
            "agent",
            "tool_version",
            "outcome",
            "error",
            "started_at",
            "ended_at",
            "ms",
        )
        return [dict(zip(names, r, strict=True)) for r in rows]

    async def attempt_outcomes(self) -> dict[str, int]:
        """How many attempts ended each way (ok, tool_error, timeout, agent_lost, ...)."""
        rows = await self._db.read(
            _query("SELECT outcome, COUNT(*) FROM swarm_attempts GROUP BY outcome", ())
        )
        return {str(outcome): int(n) for outcome, n in rows}

    async def count_results(self, task_ids: Sequence[str] | None = None) -> int:
        """How many results are recorded (for these tasks): the soak's duplicate check."""
        if task_ids is None:
            return int(
                await self._db.read(
                    lambda c: c.execute("SELECT COUNT(*) FROM swarm_results").fetchone()[0]
                )
            )
        total = 0
        for start in range(0, len(task_ids), 500):
            chunk = list(task_ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = await self._db.read(
                _query(f"SELECT COUNT(*) FROM swarm_results WHERE task_id IN ({marks})", chunk)
            )
            total += int(rows[0][0])
        return total
