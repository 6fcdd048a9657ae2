"""Checking the audit chain against itself and against its anchor outside the database.

Runs on a database thread (reader for verification, writer for the tail check
before an append); nothing here touches the event loop.
"""

from __future__ import annotations

import hmac
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from chimera_engine.audit import store as audit_store
from chimera_engine.audit.anchor import (
    AuditTamperError,
    Checkpoint,
    CheckpointFile,
    exported,
)
from chimera_engine.audit.store import AuditDraft

ANCHORED_KEY = "audit_anchored"
V2_FROM_KEY = "audit_v2_from"


@dataclass(frozen=True, kw_only=True)
class AuditVerification:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""

    def summary(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.checked} entries verified"
        return f"audit chain broken at entry {self.first_bad_seq}: {self.reason}"


class ChainHasher(Protocol):
    """What :class:`chimera_engine.audit.log.AuditChain` offers the checks here."""

    def entry_hash(
        self, prev: str, seq: int, draft: AuditDraft, detail: str | None = None
    ) -> str: ...

    def legacy_hash(
        self, prev: str, seq: int, draft: AuditDraft, detail: str | None = None
    ) -> str: ...

    def head_mac(self, seq: int, digest: str) -> str: ...

    def legacy_head_mac(self, seq: int, digest: str) -> str: ...


def v2_from(conn: sqlite3.Connection) -> int:
    value = audit_store.read_meta(conn, V2_FROM_KEY)
    return int(value) if value and value.isdigit() else 1


def anchor(conn: sqlite3.Connection, checkpoints: CheckpointFile) -> str:
    """Make sure the log has an anchor (writer thread, at start).

    The first start writes the checkpoint from the log as it is and marks the
    database as anchored; from then on a missing checkpoint is tampering.
    Returns a line for the log when something was done."""
    if checkpoints.read() is not None:
        return ""
    if audit_store.read_meta(conn, ANCHORED_KEY):
        return ""  # missing although anchored: the writer and verify report it
    count, head = audit_store.head(conn)
    checkpoints.write(Checkpoint(count=count, head=head, v2_from=v2_from(conn)))
    audit_store.write_meta(conn, ANCHORED_KEY, "1")
    return f"audit log anchored at {count} entries in {checkpoints.path}"


def check_tail(conn: sqlite3.Connection, checkpoints: CheckpointFile) -> Checkpoint:
    """The checkpoint, once the database's tail is shown to extend it; else raises
    :class:`AuditTamperError` (the caller must not append)."""
    cp = checkpoints.read()
    if cp is None:
        if audit_store.read_meta(conn, ANCHORED_KEY):
            raise AuditTamperError(f"the audit checkpoint {checkpoints.path} is missing")
        count, head = audit_store.head(conn)
        return Checkpoint(count=count, head=head, v2_from=v2_from(conn))
    problem = tail_problem(conn, cp)
    if problem:
        raise AuditTamperError(problem)
    return cp


def tail_problem(conn: sqlite3.Connection, cp: Checkpoint) -> str:
    """Why the database's log does not extend checkpoint ``cp`` ("" when it does)."""
    last, _ = audit_store.head(conn)
    if last < cp.count:
        first = last + 1
        return (
            f"entries {first}..{cp.count} are missing: the checkpoint records {cp.count} "
            f"entries and the log ends at {last}"
        )
    if cp.count and audit_store.hash_at(conn, cp.count) != cp.head:
        return f"entry {cp.count} differs from the checkpoint (the log was rewritten)"
    if v2_from(conn) != cp.v2_from:
        return "the encoding boundary recorded in the database was altered"
    return ""


def verify_chain(
    conn: sqlite3.Connection, chain: ChainHasher, checkpoints: CheckpointFile | None = None
) -> AuditVerification:
    """Walk every row in order, check links and hashes, then the head and the anchor."""
    try:
        cp = checkpoints.read() if checkpoints else None
    except AuditTamperError as exc:
        return AuditVerification(ok=False, checked=0, first_bad_seq=1, reason=str(exc))
    boundary = cp.v2_from if cp else v2_from(conn)
    prev = ""
    expected = 1
    for row in audit_store.iterate(conn):
        entry = audit_store.row_to_entry(row)
        checked = expected - 1
        if entry.seq != expected:
            return _bad(checked, expected, f"entry {expected} is missing (next is {entry.seq})")
        if entry.prev_hash != prev:
            reason = "does not link to the entry before it (rows reordered, or one replaced)"
            return _bad(checked, entry.seq, reason)
        draft = AuditDraft(
            ts=entry.ts,
            actor=entry.actor,
            role=entry.role,
            action=entry.action,
            target=entry.target,
            outcome=entry.outcome,
            detail=entry.detail,
        )
        hasher = chain.entry_hash if entry.seq >= boundary else chain.legacy_hash
        if not hmac.compare_digest(hasher(prev, entry.seq, draft), entry.hash):
            return _bad(checked, entry.seq, "its content was altered")
        prev = entry.hash
        expected += 1
    last = expected - 1
    head_problem = _head_problem(conn, chain, last, prev)
    if head_problem:
        return _bad(last, last + 1, head_problem)
    if checkpoints is not None:
        if cp is None and audit_store.read_meta(conn, ANCHORED_KEY):
            return _bad(last, last + 1, f"the audit checkpoint {checkpoints.path} is missing")
        problem = tail_problem(conn, cp) if cp else ""
        if problem:
            return _bad(last, min(last + 1, cp.count if cp else last + 1), problem)
    if last == 0:
        users = int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])
        if users:
            return _bad(
                0, 1, f"the log is empty although {users} users exist (creation is audited)"
            )
    unrecorded = _users_without_creation(conn)
    if unrecorded:
        names = ", ".join(unrecorded[:5])
        return _bad(last, last + 1, f"users exist whose creation is not in the log: {names}")
    return AuditVerification(ok=True, checked=last)


def _users_without_creation(conn: sqlite3.Connection) -> list[str]:
    """Every account is created through an audited path: one without its entry means
    entries were cut (even when the log and its checkpoint were rolled back together)."""
    rows = conn.execute(
        "SELECT username FROM users WHERE username NOT IN (SELECT target FROM audit "
        "WHERE action IN ('user.create', 'user.create_first_admin') AND outcome = 'ok') "
        "ORDER BY username"
    )
    return [str(r[0]) for r in rows]


def _head_problem(conn: sqlite3.Connection, chain: ChainHasher, last: int, prev: str) -> str:
    recorded = audit_store.read_head(conn)
    if recorded is None:
        return "" if last == 0 else "the chain head record is missing"
    try:
        head_seq_text, head_hash, mac = recorded.split(":")
        head_seq = int(head_seq_text)
    except ValueError:
        return "the chain head is damaged"
    if not (
        hmac.compare_digest(chain.head_mac(head_seq, head_hash), mac)
        or hmac.compare_digest(chain.legacy_head_mac(head_seq, head_hash), mac)
    ):
        return "the chain head was altered"
    if head_seq != last or head_hash != prev:
        return f"entries {last + 1}..{head_seq} were deleted from the end of the log"
    return ""


def _bad(checked: int, seq: int, reason: str) -> AuditVerification:
    return AuditVerification(ok=False, checked=checked, first_bad_seq=seq, reason=reason)


def check_export(conn: sqlite3.Connection, path: Path) -> AuditVerification:
    """Every entry of an exported copy must be in the database unchanged."""
    checked = 0
    try:
        for seq, digest in exported(path):
            found = audit_store.hash_at(conn, seq)
            if found is None:
                return _bad(checked, seq, f"entry {seq} of {path} is missing from the database")
            if found != digest:
                return _bad(checked, seq, f"entry {seq} differs from {path}")
            checked += 1
    except OSError as exc:
        return _bad(0, 1, f"cannot read {path}: {exc.strerror}")
    except AuditTamperError as exc:
        return _bad(checked, checked + 1, str(exc))
    return AuditVerification(ok=True, checked=checked)
