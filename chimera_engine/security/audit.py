"""The tamper-evident audit log.

Each entry stores the HMAC-SHA256 (keyed by a key derived from the install
secret) of its own content and of the previous entry's hash, and the chain's
head is kept, also under MAC, beside the rows. :func:`verify_chain` therefore
detects an edited, deleted (anywhere, including the last rows), inserted or
reordered entry and names the first bad one.

Appends are coalesced: every entry recorded during one loop iteration goes to
the writer thread as one job, so thousands of entries per second cost a few
transactions. :meth:`AuditLog.record` returns once the entry is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chimera_engine.events import AuditAppended, EventBus
from chimera_engine.security.principal import Principal
from chimera_engine.store import audit as audit_store
from chimera_engine.store.audit import AuditDraft, AuditQuery, canonical_detail
from chimera_engine.store.db import Database
from chimera_engine.store.records import AuditEntry

SECRET_FIELDS = frozenset(
    {"password", "token", "access_token", "refresh_token", "api_key", "secret"}
)


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


class AuditChain:
    """The keyed hash function of the chain."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def entry_hash(self, prev: str, seq: int, draft: AuditDraft) -> str:
        message = "\x1f".join(
            (
                prev,
                str(seq),
                repr(float(draft.ts)),
                draft.actor,
                draft.role,
                draft.action,
                draft.target,
                draft.outcome,
                canonical_detail(draft.detail),
            )
        )
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def head_mac(self, seq: int, digest: str) -> str:
        return hmac.new(
            self._key, f"head\x1f{seq}\x1f{digest}".encode(), hashlib.sha256
        ).hexdigest()


def _scrub(detail: dict[str, Any]) -> dict[str, Any]:
    """Never let a secret reach the log, whatever a caller passes."""
    return {k: ("<redacted>" if k.lower() in SECRET_FIELDS else v) for k, v in detail.items()}


def verify_chain(conn: sqlite3.Connection, chain: AuditChain) -> AuditVerification:
    """Walk every row in order and check links, hashes and the recorded head."""
    prev = ""
    expected = 1
    checked = 0
    for row in audit_store.iterate(conn):
        entry = audit_store.row_to_entry(row)
        if entry.seq != expected:
            return AuditVerification(
                ok=False,
                checked=checked,
                first_bad_seq=expected,
                reason=f"entry {expected} is missing (the next entry present is {entry.seq})",
            )
        if entry.prev_hash != prev:
            return AuditVerification(
                ok=False,
                checked=checked,
                first_bad_seq=entry.seq,
                reason="does not link to the entry before it (rows reordered, or one replaced)",
            )
        draft = AuditDraft(
            ts=entry.ts,
            actor=entry.actor,
            role=entry.role,
            action=entry.action,
            target=entry.target,
            outcome=entry.outcome,
            detail=entry.detail,
        )
        if not hmac.compare_digest(chain.entry_hash(prev, entry.seq, draft), entry.hash):
            return AuditVerification(
                ok=False, checked=checked, first_bad_seq=entry.seq, reason="its content was altered"
            )
        prev = entry.hash
        expected += 1
        checked += 1
    recorded = audit_store.read_head(conn)
    last = expected - 1
    if recorded is None:
        if last == 0:
            return AuditVerification(ok=True, checked=0)
        return AuditVerification(
            ok=False, checked=checked, first_bad_seq=1, reason="the chain head record is missing"
        )
    try:
        head_seq_text, head_hash, mac = recorded.split(":")
        head_seq = int(head_seq_text)
    except ValueError:
        return AuditVerification(
            ok=False, checked=checked, first_bad_seq=last + 1, reason="the chain head is damaged"
        )
    if not hmac.compare_digest(chain.head_mac(head_seq, head_hash), mac):
        return AuditVerification(
            ok=False, checked=checked, first_bad_seq=last + 1, reason="the chain head was altered"
        )
    if head_seq != last or head_hash != prev:
        return AuditVerification(
            ok=False,
            checked=checked,
            first_bad_seq=last + 1,
            reason=f"entries {last + 1}..{head_seq} were deleted from the end of the log",
        )
    return AuditVerification(ok=True, checked=checked)


class AuditLog:
    """Appends entries, keeps the latest ``ring_size`` in memory, verifies the chain."""

    def __init__(
        self,
        db: Database,
        key: bytes,
        bus: EventBus,
        *,
        ring_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self.chain = AuditChain(key)
        self._bus = bus
        self._clock = clock
        self.ring: deque[AuditEntry] = deque(maxlen=ring_size)
        self._pending: list[tuple[AuditDraft, asyncio.Future[AuditEntry]]] = []
        self._flush_scheduled = False
        self._in_flight: set[asyncio.Future[list[AuditEntry]]] = set()

    async def load(self) -> None:
        """Fill the in-memory ring with the newest persisted entries."""
        size = self.ring.maxlen or 0
        latest = await self._db.read(lambda c: audit_store.query(c, AuditQuery(limit=size)))
        self.ring.extend(reversed(latest))

    async def record(
        self,
        principal: Principal | None,
        action: str,
        *,
        target: str = "",
        outcome: str = "ok",
        actor: str | None = None,
        **detail: Any,
    ) -> AuditEntry:
        """Append one entry and return it once committed.

        ``outcome`` is ``ok``, ``denied`` (a refused request) or ``error``.
        """
        draft = AuditDraft(
            ts=self._clock(),
            actor=actor or (principal.actor if principal else "anonymous"),
            role=principal.role.value if principal else "",
            action=action,
            target=target,
            outcome=outcome,
            detail=_scrub(detail),
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AuditEntry] = loop.create_future()
        self._pending.append((draft, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        drafts = [draft for draft, _ in batch]
        chain = self.chain

        def job(conn: sqlite3.Connection) -> list[AuditEntry]:
            return audit_store.append_batch(conn, drafts, chain.entry_hash, chain.head_mac)

        try:
            written = asyncio.wrap_future(self._db.submit(job))
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._in_flight.add(written)
        written.add_done_callback(lambda f: self._resolve(batch, f))

    def _resolve(
        self,
        batch: list[tuple[AuditDraft, asyncio.Future[AuditEntry]]],
        written: asyncio.Future[list[AuditEntry]],
    ) -> None:
        self._in_flight.discard(written)
        if written.cancelled() or written.exception() is not None:
            error = written.exception() if not written.cancelled() else asyncio.CancelledError()
            for _, future in batch:
                if not future.done():
                    future.set_exception(error or RuntimeError("audit write failed"))
            return
        for (_, future), entry in zip(batch, written.result(), strict=True):
            self.ring.append(entry)
            self._bus.publish(AuditAppended(entry=entry))
            if not future.done():
                future.set_result(entry)

    async def flush(self) -> None:
        """Wait until every entry recorded so far is committed."""
        await asyncio.sleep(0)
        if self._in_flight:
            await asyncio.gather(*tuple(self._in_flight), return_exceptions=True)

    async def query(self, q: AuditQuery) -> list[AuditEntry]:
        return await self._db.read(lambda c: audit_store.query(c, q))

    async def verify(self) -> AuditVerification:
        """Check the whole persisted chain (runs on a reader thread)."""
        return await self._db.read(lambda c: verify_chain(c, self.chain))

    def latest(self, n: int = 100) -> list[AuditEntry]:
        """The newest ``n`` entries from memory, oldest first."""
        items = list(self.ring)
        return items[-n:]
