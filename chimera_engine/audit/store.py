"""Audit rows: appended in batches by the writer thread, read by filters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from chimera_engine.store.records import AuditEntry

_COLUMNS = "seq, ts, actor, role, action, target, outcome, detail, prev_hash, hash"
HEAD_KEY = "audit_head"


def row_to_entry(row: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(
        seq=row[0],
        ts=row[1],
        actor=row[2],
        role=row[3],
        action=row[4],
        target=row[5],
        outcome=row[6],
        detail=json.loads(row[7]),
        prev_hash=row[8],
        hash=row[9],
    )


@dataclass(frozen=True, kw_only=True)
class AuditDraft:
    """An entry before it has a place in the chain."""

    ts: float
    actor: str
    role: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class AuditQuery:
    """Filters for reading the log; every field is optional."""

    action_prefix: str = ""
    actor: str = ""
    outcome: str = ""
    text: str = ""
    since: float | None = None
    until: float | None = None
    before_seq: int | None = None
    limit: int = 500


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, "") if row is None else (int(row[0]), str(row[1]))


def append_batch(
    conn: sqlite3.Connection,
    drafts: list[AuditDraft],
    chain: Callable[[str, int, AuditDraft, str], str],
    head_mac: Callable[[int, str], str],
) -> list[AuditEntry]:
    """Chain and insert ``drafts`` after the current head, inside the caller's transaction.

    ``chain(prev, seq, draft, detail)`` gets the draft's canonical detail text too,
    the same text the row stores."""
    seq, prev = head(conn)
    entries: list[AuditEntry] = []
    rows: list[tuple[Any, ...]] = []
    for draft in drafts:
        seq += 1
        detail = canonical_detail(draft.detail)
        digest = chain(prev, seq, draft, detail)
        entries.append(
            AuditEntry(
                seq=seq,
                ts=draft.ts,
                actor=draft.actor,
                role=draft.role,
                action=draft.action,
                target=draft.target,
                outcome=draft.outcome,
                detail=draft.detail,
                prev_hash=prev,
                hash=digest,
            )
        )
        rows.append(
            (
                seq,
                draft.ts,
                draft.actor,
                draft.role,
                draft.action,
                draft.target,
                draft.outcome,
                detail,
                prev,
                digest,
            )
        )
        prev = digest
    conn.executemany(f"INSERT INTO audit({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (HEAD_KEY, f"{seq}:{prev}:{head_mac(seq, prev)}"),
    )
    return entries


def canonical_detail(detail: dict[str, Any]) -> str:
    if not detail:
        return "{}"
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), default=str)


def query(conn: sqlite3.Connection, q: AuditQuery) -> list[AuditEntry]:
    """Newest first, at most ``q.limit`` entries."""
    where: list[str] = []
    args: list[Any] = []
    if q.action_prefix:
        where.append("action LIKE ? ESCAPE '\\'")
        args.append(_like_escape(q.action_prefix) + "%")
    if q.actor:
        where.append("actor = ?")
        args.append(q.actor)
    if q.outcome:
        where.append("outcome = ?")
        args.append(q.outcome)
    if q.text:
        where.append("(target LIKE ? ESCAPE '\\' OR detail LIKE ? ESCAPE '\\')")
        pattern = "%" + _like_escape(q.text) + "%"
        args.extend([pattern, pattern])
    if q.since is not None:
        where.append("ts >= ?")
        args.append(q.since)
    if q.until is not None:
        where.append("ts <= ?")
        args.append(q.until)
    if q.before_seq is not None:
        where.append("seq < ?")
        args.append(q.before_seq)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {_COLUMNS} FROM audit {clause} ORDER BY seq DESC LIMIT ?"
    return [row_to_entry(r) for r in conn.execute(sql, (*args, max(1, min(q.limit, 10_000))))]


def iterate(conn: sqlite3.Connection, batch: int = 5000) -> Iterator[tuple[Any, ...]]:
    """Every raw row in physical ``seq`` order, in batches (for verification)."""
    last = -1
    while True:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (last, batch)
        ).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def hash_at(conn: sqlite3.Connection, seq: int) -> str | None:
    row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def read_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def write_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def read_head(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (HEAD_KEY,)).fetchone()
    return None if row is None else str(row[0])


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
