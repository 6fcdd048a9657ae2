"""The tamper-evident audit log.

Each entry stores the HMAC-SHA256 (keyed by a key derived from the install
secret) of its own content and of the previous entry's hash, fields encoded
with length prefixes. The chain's head is kept under MAC beside the rows and,
outside the database, in a keyed checkpoint file (see
:mod:`chimera_engine.audit.anchor`). :func:`verify_chain` therefore
detects an edited, deleted (anywhere, including the last rows or all of them),
inserted or reordered entry and names the first bad one; the writer refuses
to chain onto a log that disagrees with its checkpoint.

Appends are coalesced: every entry recorded during one loop iteration goes to
the writer thread as one job, so thousands of entries per second cost a few
transactions. :meth:`AuditLog.record` returns once the entry is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from chimera_engine.audit import store as audit_store
from chimera_engine.audit.anchor import (
    ENCODING_TAG,
    AuditTamperError,
    CheckpointFile,
    ExportSink,
    encode_body,
    encode_fields,
)
from chimera_engine.audit.store import AuditDraft, AuditQuery, canonical_detail
from chimera_engine.audit.verify import (
    AuditVerification,
    anchor,
    check_export,
    check_tail,
    verify_chain,
)
from chimera_engine.events import AuditAppended, AuditTampered, EventBus
from chimera_engine.security.principal import Principal
from chimera_engine.store.db import Database
from chimera_engine.store.records import AuditEntry

__all__ = ["AuditChain", "AuditLog", "AuditVerification", "verify_chain"]

log = logging.getLogger(__name__)

SECRET_FIELDS = frozenset(
    {"password", "token", "access_token", "refresh_token", "api_key", "secret"}
)


class AuditChain:
    """The keyed hash function of the chain (length-prefixed fields; see
    :mod:`chimera_engine.audit.anchor`)."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        # keyed once, the constant tag already fed in: each entry copies it
        self._tagged = hmac.new(key, ENCODING_TAG, hashlib.sha256)

    def entry_hash(self, prev: str, seq: int, draft: AuditDraft, detail: str | None = None) -> str:
        """The entry's MAC; ``detail`` is ``canonical_detail(draft.detail)`` when the
        caller has it already."""
        mac = self._tagged.copy()
        mac.update(encode_body(_fields(prev, seq, draft, detail)))
        return mac.hexdigest()

    def legacy_hash(self, prev: str, seq: int, draft: AuditDraft, detail: str | None = None) -> str:
        """The first encoding (fields joined by 0x1f), kept to verify entries written by it."""
        message = "\x1f".join(_fields(prev, seq, draft, detail))
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def head_mac(self, seq: int, digest: str) -> str:
        message = encode_fields("head", str(seq), digest)
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def legacy_head_mac(self, seq: int, digest: str) -> str:
        message = f"head\x1f{seq}\x1f{digest}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def _fields(prev: str, seq: int, draft: AuditDraft, detail: str | None) -> tuple[str, ...]:
    """What the chain hashes of an entry, in order."""
    return (
        prev,
        str(seq),
        repr(float(draft.ts)),
        draft.actor,
        draft.role,
        draft.action,
        draft.target,
        draft.outcome,
        canonical_detail(draft.detail) if detail is None else detail,
    )


def _scrub(detail: dict[str, Any]) -> dict[str, Any]:
    """Never let a secret reach the log, whatever a caller passes."""
    if not detail:
        return detail
    return {k: ("<redacted>" if k.lower() in SECRET_FIELDS else v) for k, v in detail.items()}


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
        checkpoint_key: bytes | None = None,
        export_path: Path | None = None,
    ) -> None:
        self._db = db
        self.chain = AuditChain(key)
        self.checkpoints = CheckpointFile(
            db.path.with_name(db.path.name + ".audit-checkpoint"), checkpoint_key or key
        )
        self.tampered = ""
        self.export = ExportSink(export_path) if export_path else None
        self._bus = bus
        self._clock = clock
        self.ring: deque[AuditEntry] = deque(maxlen=ring_size)
        self._pending: list[tuple[AuditDraft, asyncio.Future[AuditEntry]]] = []
        self._flush_scheduled = False
        self._in_flight: set[asyncio.Future[list[AuditEntry]]] = set()

    async def load(self) -> None:
        """Anchor the log outside the database (first start) and fill the in-memory ring
        with the newest persisted entries."""
        checkpoints = self.checkpoints
        try:
            done = await self._db.write(lambda c: anchor(c, checkpoints))
        except AuditTamperError as exc:
            self._alarm(str(exc))
        else:
            if done:
                log.info("%s", done)
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

        checkpoints = self.checkpoints
        export = self.export

        def job(conn: sqlite3.Connection) -> list[AuditEntry]:
            cp = check_tail(conn, checkpoints)  # never chain onto a cut or rolled-back log
            entries = audit_store.append_batch(conn, drafts, chain.entry_hash, chain.head_mac)
            last = entries[-1]
            checkpoints.write(replace(cp, count=last.seq, head=last.hash))
            if export is not None:
                try:
                    export.append(entries)
                except OSError as exc:  # the log itself is intact; say so loudly
                    log.error("audit export to %s failed: %s", export.path, exc)
            return entries

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
            if isinstance(error, AuditTamperError):
                self._alarm(str(error))
            for _, future in batch:
                if not future.done():
                    future.set_exception(error or RuntimeError("audit write failed"))
            return
        entries = written.result()
        self.ring.extend(entries)
        publish = self._bus.publish
        for (_, future), entry in zip(batch, entries, strict=True):
            publish(AuditAppended(entry=entry))
            if not future.done():
                future.set_result(entry)

    def _alarm(self, reason: str) -> None:
        if reason != self.tampered:
            log.critical("audit log tampering: %s; nothing more is appended", reason)
            self._bus.publish(AuditTampered(reason=reason))
        self.tampered = reason

    async def flush(self) -> None:
        """Wait until every entry recorded so far is committed."""
        await asyncio.sleep(0)
        if self._in_flight:
            await asyncio.gather(*tuple(self._in_flight), return_exceptions=True)

    async def query(self, q: AuditQuery) -> list[AuditEntry]:
        return await self._db.read(lambda c: audit_store.query(c, q))

    async def verify_against(self, path: Path) -> AuditVerification:
        """Check that every entry of an exported copy is in the database unchanged."""
        return await self._db.read(lambda c: check_export(c, path))

    async def verify(self) -> AuditVerification:
        """Check the whole persisted chain (runs on a reader thread)."""
        checkpoints = self.checkpoints
        return await self._db.read(lambda c: verify_chain(c, self.chain, checkpoints))

    def latest(self, n: int = 100) -> list[AuditEntry]:
        """The newest ``n`` entries from memory, oldest first."""
        items = list(self.ring)
        return items[-n:]
