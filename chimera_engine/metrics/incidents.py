"""IncidentBook: anomalies persisted with the incident (episode) they belong to.

The hub hands every anomaly event to :meth:`IncidentBook.record` (cheap, on the
loop): the anomaly row and its incident row are written in one transaction, in
the order the anomalies came (the store's single writer), then
:class:`~chimera_engine.events.AnomalyDetected` is published, and
:class:`~chimera_engine.events.IncidentChanged` when the anomaly opened an
incident. :meth:`tick` (every few seconds) resolves the incidents whose subject
is back to normal (see :mod:`chimera_engine.anomaly.incidents`): the incident is
marked ``resolved_by="auto"`` and its open anomalies are acknowledged as
:data:`AUTO_ACTOR`. :meth:`close` does the same by hand, for chosen incidents or
all open ones. Open incidents survive a restart (:meth:`restore`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chimera_engine.anomaly.incidents import (
    IncidentTracker,
    OpenIncident,
    Rearming,
    resolve_due,
)
from chimera_engine.errors import ValidationError
from chimera_engine.events import AnomalyAcknowledged, AnomalyDetected, EventBus, IncidentChanged
from chimera_engine.store.db import Database

if TYPE_CHECKING:
    from chimera_engine.anomaly.engine import AnomalyEvent

#: Who acknowledges the anomalies of an incident that resolved by itself.
AUTO_ACTOR = "auto (back to normal)"
#: Incidents closed by one request at most.
MAX_CLOSE = 5000


@dataclass(frozen=True, kw_only=True)
class StoredIncident:
    id: int
    subject: str
    opened_at: float
    last_at: float
    metrics: tuple[str, ...]
    anomalies: int
    peak: float
    resolved_at: float | None
    resolved_by: str

    @property
    def open(self) -> bool:
        return self.resolved_at is None


class IncidentBook:
    def __init__(self, bus: EventBus, db: Database, tracker: IncidentTracker) -> None:
        self._bus = bus
        self._db = db
        self.tracker = tracker
        self._pending: set[asyncio.Task[Any]] = set()

    def record(
        self, event: AnomalyEvent, band: tuple[float, float] | None = None
    ) -> asyncio.Task[Any]:
        """Group ``event`` into its incident and persist both (in arrival order);
        ``band`` is the metric's normal before the anomaly (what resolving waits for)."""
        return self.record_many([(event, band)])

    def record_many(
        self, events: Sequence[tuple[AnomalyEvent, tuple[float, float] | None]]
    ) -> asyncio.Task[Any]:
        """:meth:`record` for a batch's ``(event, band)`` pairs, in order, in one write:
        each incident they touch is written once, as it stands after them (one that
        thousands of metrics join in a batch is not sorted and encoded per anomaly)."""
        touched: dict[int, tuple[OpenIncident, bool]] = {}  # by id(): opened by the batch?
        found: list[tuple[AnomalyEvent, OpenIncident, bool]] = []
        for event, band in events:
            inc, opened = self.tracker.on_anomaly(event.metric, event.t, event.score, band)
            touched.setdefault(id(inc), (inc, opened))
            found.append((event, inc, opened))
        snaps = [
            (key, opened, i.subject, i.opened_at, i.last_at, sorted(i.metrics), i.anomalies, i.peak)
            for key, (i, opened) in touched.items()
        ]
        rows = [(id(inc), event) for event, inc, _ in found]

        def write(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            ids: dict[int, int] = {}
            for key, opened, subject, opened_at, last_at, metrics, count, peak in snaps:
                if opened:
                    cur = conn.execute(
                        "INSERT INTO incidents(subject, opened_at, last_at, metrics, anomalies, "
                        "peak) VALUES (?,?,?,?,?,?)",
                        (subject, opened_at, last_at, json.dumps(metrics), count, peak),
                    )
                    ids[key] = int(cur.lastrowid or 0)
                    continue
                row = conn.execute(
                    "SELECT id FROM incidents WHERE subject = ? AND opened_at = ?",
                    (subject, opened_at),
                ).fetchone()
                ids[key] = int(row[0]) if row else 0
                conn.execute(
                    "UPDATE incidents SET last_at = ?, metrics = ?, anomalies = ?, peak = ? "
                    "WHERE id = ?",
                    (last_at, json.dumps(metrics), count, peak, ids[key]),
                )
            written: list[tuple[int, int]] = []
            for key, e in rows:
                cur = conn.execute(
                    "INSERT INTO anomalies(metric, t, value, expected, score, kind, incident_id) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (e.metric, e.t, e.value, e.expected, e.score, e.kind.value, ids[key] or None),
                )
                written.append((int(cur.lastrowid or 0), ids[key]))
            return written

        done = asyncio.wrap_future(self._db.submit(write))

        async def publish() -> None:
            for (anomaly_id, incident_id), (event, inc, opened) in zip(
                await done, found, strict=True
            ):
                self._bus.publish(AnomalyDetected(anomaly_id=anomaly_id, event=event))
                if opened:
                    self._bus.publish(
                        IncidentChanged(
                            incident_id=incident_id, subject=inc.subject, state="opened"
                        )
                    )

        task = asyncio.get_running_loop().create_task(publish())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def flush(self) -> None:
        if self._pending:
            await asyncio.gather(*tuple(self._pending), return_exceptions=True)

    async def restore(self) -> int:
        """Track the incidents left open in the store (at start-up); how many."""

        def q(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return list(
                conn.execute(
                    "SELECT subject, opened_at, last_at, metrics, anomalies, peak "
                    "FROM incidents WHERE resolved_at IS NULL"
                )
            )

        rows = await self._db.read(q)
        for subject, opened_at, last_at, metrics, count, peak in rows:
            self.tracker.restore(
                OpenIncident(subject, opened_at, last_at, set(json.loads(metrics)), count, peak)
            )
        return len(rows)

    async def tick(self, now: float, engine: Rearming) -> list[StoredIncident]:
        """Resolve the incidents that are back to normal (re-arming their metrics in
        ``engine``); returns them."""
        due = resolve_due(self.tracker, engine, now)
        if not due:
            return []
        keys = [(i.subject, i.opened_at) for i in due]

        def find(conn: sqlite3.Connection) -> list[int]:
            return [
                int(r[0])
                for s, o in keys
                for r in conn.execute(
                    "SELECT id FROM incidents WHERE subject = ? AND opened_at = ? "
                    "AND resolved_at IS NULL",
                    (s, o),
                )
            ]

        return await self._resolve(await self._db.read(find), now, "auto", AUTO_ACTOR)

    async def close(
        self, ids: Sequence[int] | None, actor: str, now: float, engine: Rearming | None = None
    ) -> list[StoredIncident]:
        """Close the open incidents among ``ids`` (None: every open one) as ``actor``;
        their metrics are re-armed in ``engine`` (a fault still there alerts again)."""
        if ids is not None and len(ids) > MAX_CLOSE:
            raise ValidationError(f"at most {MAX_CLOSE} incidents per request, got {len(ids)}")

        def pick(conn: sqlite3.Connection) -> list[int]:
            rows = conn.execute(
                "SELECT id FROM incidents WHERE resolved_at IS NULL ORDER BY id LIMIT ?",
                (MAX_CLOSE,),
            )
            open_ids = [int(r[0]) for r in rows]
            return open_ids if ids is None else sorted(set(open_ids) & {int(i) for i in ids})

        chosen = await self._db.read(pick)
        closed = await self._resolve(chosen, now, actor, actor)
        for inc in closed:
            self.tracker.forget(inc.subject, inc.opened_at)
            if engine is not None:
                for metric in inc.metrics:
                    engine.rearm(metric)
        return closed

    async def _resolve(
        self, ids: list[int], now: float, resolved_by: str, ack_actor: str
    ) -> list[StoredIncident]:
        if not ids:
            return []

        def write(conn: sqlite3.Connection) -> tuple[list[StoredIncident], list[int]]:
            marks = ",".join("?" * len(ids))
            conn.execute(
                f"UPDATE incidents SET resolved_at = ?, resolved_by = ? "
                f"WHERE resolved_at IS NULL AND id IN ({marks})",
                (now, resolved_by, *ids),
            )
            acked = [
                int(r[0])
                for r in conn.execute(
                    f"SELECT id FROM anomalies WHERE acknowledged_at IS NULL "
                    f"AND incident_id IN ({marks})",
                    ids,
                )
            ]
            conn.execute(
                f"UPDATE anomalies SET acknowledged_by = ?, acknowledged_at = ? "
                f"WHERE acknowledged_at IS NULL AND incident_id IN ({marks})",
                (ack_actor, now, *ids),
            )
            rows = conn.execute(f"{_SELECT} WHERE id IN ({marks})", ids)
            return [_incident(r) for r in rows], acked

        done, acked = await self._db.write(write)
        for anomaly_id in acked:
            self._bus.publish(AnomalyAcknowledged(anomaly_id=anomaly_id, actor=ack_actor))
        for inc in done:
            self._bus.publish(
                IncidentChanged(
                    incident_id=inc.id, subject=inc.subject, state="resolved", by=resolved_by
                )
            )
        return done

    async def list(self, *, open_only: bool = False, limit: int = 200) -> list[StoredIncident]:
        """Incidents, newest first."""

        def q(conn: sqlite3.Connection) -> list[StoredIncident]:
            where = " WHERE resolved_at IS NULL" if open_only else ""
            rows = conn.execute(f"{_SELECT}{where} ORDER BY id DESC LIMIT ?", (limit,))
            return [_incident(r) for r in rows]

        return await self._db.read(q)


_SELECT = (
    "SELECT id, subject, opened_at, last_at, metrics, anomalies, peak, resolved_at, "
    "resolved_by FROM incidents"
)


def _incident(r: tuple[Any, ...]) -> StoredIncident:
    return StoredIncident(
        id=r[0],
        subject=r[1],
        opened_at=r[2],
        last_at=r[3],
        metrics=tuple(json.loads(r[4])),
        anomalies=r[5],
        peak=r[6],
        resolved_at=r[7],
        resolved_by=r[8],
    )
