"""The stored anomalies: listed, acknowledged one by one or in bulk (the hub writes
them with their incident: :mod:`chimera_engine.metrics.incidents`)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.events import AnomalyAcknowledged, EventBus
from chimera_engine.store.db import Database


@dataclass(frozen=True, kw_only=True)
class StoredAnomaly:
    id: int
    metric: str
    t: float
    value: float
    expected: float
    score: float
    kind: str
    acknowledged_by: str
    acknowledged_at: float | None
    incident_id: int | None = None


class AnomalyStore:
    """Reads and acknowledgements of the ``anomalies`` table."""

    def __init__(self, bus: EventBus, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._bus = bus
        self._db = db
        self._clock = clock

    async def anomalies(
        self, *, since: float = 0.0, metric: str = "", limit: int = 200
    ) -> list[StoredAnomaly]:
        def q(conn: sqlite3.Connection) -> list[StoredAnomaly]:
            sql = f"{_SELECT} WHERE t >= ?"
            args: list[Any] = [since]
            if metric:
                sql += " AND metric = ?"
                args.append(metric)
            rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit))
            return [_stored(r) for r in rows]

        return await self._db.read(q)

    async def acknowledge(self, anomaly_id: int, actor: str) -> StoredAnomaly:
        """Mark ``anomaly_id`` acknowledged by ``actor`` (the first acknowledgement stays).

        One UPDATE and one read of that row by its primary key: O(1) whatever the
        number of anomalies stored.
        """
        now = self._clock()

        def ack(conn: sqlite3.Connection) -> StoredAnomaly:
            conn.execute(
                "UPDATE anomalies SET acknowledged_by = ?, acknowledged_at = ? "
                "WHERE id = ? AND acknowledged_at IS NULL",
                (actor, now, anomaly_id),
            )
            row = conn.execute(f"{_SELECT} WHERE id = ?", (anomaly_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"anomaly {anomaly_id} does not exist")
            return _stored(row)

        stored = await self._db.write(ack)
        self._bus.publish(AnomalyAcknowledged(anomaly_id=anomaly_id, actor=actor))
        return stored

    async def acknowledge_many(self, ids: Sequence[int] | None, actor: str) -> list[StoredAnomaly]:
        """Acknowledge the open anomalies among ``ids`` (None: every open one, at most
        :data:`MAX_BULK`) as ``actor`` in one transaction; returns those this call
        acknowledged (already-acknowledged and unknown ids are left out).

        More than :data:`MAX_BULK` ids is a :class:`ValidationError` (nothing changes).
        """
        if ids is not None and len(ids) > MAX_BULK:
            raise ValidationError(f"at most {MAX_BULK} anomalies per request, got {len(ids)}")
        now = self._clock()

        def ack(conn: sqlite3.Connection) -> list[StoredAnomaly]:
            if ids is None:
                rows = conn.execute(
                    "SELECT id FROM anomalies WHERE acknowledged_at IS NULL ORDER BY id LIMIT ?",
                    (MAX_BULK,),
                ).fetchall()
                wanted = [int(r[0]) for r in rows]
            else:
                wanted = sorted({int(i) for i in ids})
            done: list[StoredAnomaly] = []
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                open_ids = [
                    int(r[0])
                    for r in conn.execute(
                        f"SELECT id FROM anomalies WHERE acknowledged_at IS NULL "
                        f"AND id IN ({marks})",
                        chunk,
                    )
                ]
                if not open_ids:
                    continue
                marks = ",".join("?" * len(open_ids))
                conn.execute(
                    f"UPDATE anomalies SET acknowledged_by = ?, acknowledged_at = ? "
                    f"WHERE id IN ({marks})",
                    (actor, now, *open_ids),
                )
                done += [
                    _stored(r) for r in conn.execute(f"{_SELECT} WHERE id IN ({marks})", open_ids)
                ]
            return done

        stored = await self._db.write(ack)
        for a in stored:
            self._bus.publish(AnomalyAcknowledged(anomaly_id=a.id, actor=actor))
        return stored


#: Anomalies acknowledged by one bulk request at most.
MAX_BULK = 5000

_SELECT = (
    "SELECT id, metric, t, value, expected, score, kind, acknowledged_by, acknowledged_at, "
    "incident_id FROM anomalies"
)


def _stored(r: tuple[Any, ...]) -> StoredAnomaly:
    return StoredAnomaly(
        id=r[0],
        metric=r[1],
        t=r[2],
        value=r[3],
        expected=r[4],
        score=r[5],
        kind=r[6],
        acknowledged_by=r[7],
        acknowledged_at=r[8],
        incident_id=r[9],
    )
