"""Persistence of the review queue (with its state machine) and of learned patterns."""

from __future__ import annotations

import json
import math
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chimera_engine.errors import ConflictError, NotFoundError
from chimera_engine.patches.models import TRANSITIONS, Patch, PatchState
from chimera_engine.store.db import Database

_COLUMNS = (
    "id, module, base_version, state, created_at, updated_at, provider, model, replay, "
    "input_tokens, output_tokens, cost_usd, diff, diff_hash, files, tests, rationale, risk, "
    "result, reason, applied_version, decided_by, signature, attempts, originals, derived_from, "
    "superseded_by"
)


def _patch(row: tuple[Any, ...]) -> Patch:
    return Patch(
        id=row[0],
        module=row[1],
        base_version=row[2],
        state=PatchState(row[3]),
        created_at=row[4],
        updated_at=row[5],
        provider=row[6],
        model=row[7],
        replay=bool(row[8]),
        input_tokens=row[9],
        output_tokens=row[10],
        cost_usd=row[11],
        diff=row[12],
        diff_hash=row[13],
        files=json.loads(row[14]),
        tests=json.loads(row[15]),
        rationale=row[16],
        risk=row[17],
        result=json.loads(row[18]) if row[18] else None,
        reason=row[19],
        applied_version=row[20],
        decided_by=row[21],
        signature=row[22],
        attempts=row[23],
        originals=json.loads(row[24]),
        derived_from=row[25],
        superseded_by=row[26],
    )


@dataclass(frozen=True, kw_only=True)
class PatchEvent:
    patch_id: int
    ts: float
    state: str
    actor: str
    detail: str


class PatchRepository:
    def __init__(self, db: Database, workspace: str, clock: Callable[[], float] = time.time):
        self._db = db
        self._workspace = workspace
        self._clock = clock

    async def create(self, detail: str = "created", **fields: Any) -> Patch:
        """Record a new patch; ``detail`` is its first history entry."""
        now = self._clock()
        return await self._db.write(lambda conn: self._insert(conn, now, fields, detail))

    def _insert(
        self, conn: sqlite3.Connection, now: float, fields: dict[str, Any], detail: str
    ) -> Patch:
        record = {
            **fields,
            "files": json.dumps(fields["files"]),
            "tests": json.dumps(fields["tests"]),
            "originals": json.dumps(fields["originals"]),
            "result": json.dumps(fields["result"]) if fields.get("result") else None,
        }
        columns = ["workspace", "created_at", "updated_at", *record]
        values = [self._workspace, now, now, *record.values()]
        cur = conn.execute(
            f"INSERT INTO patches({', '.join(columns)}) VALUES ({', '.join('?' * len(values))})",
            values,
        )
        conn.execute(
            "INSERT INTO patch_events(patch_id, ts, state, actor, detail) VALUES (?,?,?,?,?)",
            (cur.lastrowid, now, record["state"], record.get("decided_by", ""), detail),
        )
        row = conn.execute(f"SELECT {_COLUMNS} FROM patches WHERE id = ?", (cur.lastrowid,))
        return _patch(row.fetchone())

    async def get(self, patch_id: int) -> Patch:
        row = await self._db.read(
            lambda c: c.execute(
                f"SELECT {_COLUMNS} FROM patches WHERE id = ? AND workspace = ?",
                (patch_id, self._workspace),
            ).fetchone()
        )
        if row is None:
            raise NotFoundError(f"patch {patch_id} does not exist")
        return _patch(row)

    async def find(self, *, states: tuple[PatchState, ...] = (), limit: int = 200) -> list[Patch]:
        def q(conn: sqlite3.Connection) -> list[Patch]:
            where = "workspace = ?"
            args: list[Any] = [self._workspace]
            if states:
                where += f" AND state IN ({', '.join('?' * len(states))})"
                args += [s.value for s in states]
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM patches WHERE {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )
            return [_patch(r) for r in rows]

        return await self._db.read(q)

    async def transition(
        self, patch_id: int, to: PatchState, *, actor: str, detail: str = "", **fields: Any
    ) -> Patch:
        """Move a patch to ``to`` (checked against the state machine) and set ``fields``."""
        now = self._clock()
        encoded = {
            k: json.dumps(v) if k in ("result", "files", "tests") else v for k, v in fields.items()
        }

        def move(conn: sqlite3.Connection) -> Patch:
            row = conn.execute(
                "SELECT state FROM patches WHERE id = ? AND workspace = ?",
                (patch_id, self._workspace),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"patch {patch_id} does not exist")
            current = PatchState(row[0])
            if to not in TRANSITIONS[current]:
                raise ConflictError(
                    f"patch {patch_id} is {current.value}; it cannot become {to.value}"
                )
            sets = ", ".join(f"{k} = ?" for k in ("state", "updated_at", *encoded))
            conn.execute(
                f"UPDATE patches SET {sets} WHERE id = ?",
                (to.value, now, *encoded.values(), patch_id),
            )
            conn.execute(
                "INSERT INTO patch_events(patch_id, ts, state, actor, detail) VALUES (?,?,?,?,?)",
                (patch_id, now, to.value, actor, detail[:2000]),
            )
            return _patch(
                conn.execute(f"SELECT {_COLUMNS} FROM patches WHERE id = ?", (patch_id,)).fetchone()
            )

        return await self._db.write(move)

    async def events(self, patch_id: int) -> list[PatchEvent]:
        rows = await self._db.read(
            lambda c: c.execute(
                "SELECT patch_id, ts, state, actor, detail FROM patch_events WHERE patch_id = ? "
                "ORDER BY id",
                (patch_id,),
            ).fetchall()
        )
        return [
            PatchEvent(patch_id=r[0], ts=r[1], state=r[2], actor=r[3], detail=r[4]) for r in rows
        ]


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]+")


def _vector(text: str) -> Counter[str]:
    return Counter(w.lower() for w in _WORD.findall(text))


def cosine(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two bags of words.

    >>> round(cosine(_vector("ZeroDivisionError division by zero"),
    ...              _vector("ZeroDivisionError float division by zero")), 2)
    0.89
    """
    common = set(a) & set(b)
    dot = sum(a[w] * b[w] for w in common)
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


@dataclass(frozen=True, kw_only=True)
class Pattern:
    id: int
    patch_id: int
    module: str
    signature: str
    diff: str
    tests: dict[str, str]
    created_at: float
    uses: int
    similarity: float = 0.0


class PatternStore:
    """Patches that were kept, retrieved by the similarity of their failure signatures."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    async def add(self, patch: Patch) -> None:
        now = self._clock()
        await self._db.write(
            lambda c: c.execute(
                "INSERT INTO patterns(patch_id, module, signature, diff, tests, created_at) "
                "VALUES (?,?,?,?,?,?)",
                (patch.id, patch.module, patch.signature, patch.diff, json.dumps(patch.tests), now),
            )
        )

    async def all(self) -> list[Pattern]:
        rows = await self._db.read(
            lambda c: c.execute(
                "SELECT id, patch_id, module, signature, diff, tests, created_at, uses "
                "FROM patterns ORDER BY id DESC LIMIT 2000"
            ).fetchall()
        )
        return [
            Pattern(
                id=r[0],
                patch_id=r[1],
                module=r[2],
                signature=r[3],
                diff=r[4],
                tests=json.loads(r[5]),
                created_at=r[6],
                uses=r[7],
            )
            for r in rows
        ]

    async def similar(self, signature: str, k: int = 3, threshold: float = 0.2) -> list[Pattern]:
        """The ``k`` most similar past fixes (similarity >= ``threshold``), best first."""
        query = _vector(signature)
        scored = []
        for pattern in await self.all():
            score = cosine(query, _vector(pattern.signature))
            if score >= threshold:
                scored.append((score, pattern))
        scored.sort(key=lambda item: -item[0])
        best = [Pattern(**{**p.__dict__, "similarity": round(s, 3)}) for s, p in scored[:k]]
        if best:
            ids = [p.id for p in best]
            await self._db.write(
                lambda c: c.executemany(
                    "UPDATE patterns SET uses = uses + 1 WHERE id = ?", [(i,) for i in ids]
                )
            )
        return best
