"""The audit log: persistence, the in-memory ring, and the tamper-evident chain."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from chimera_engine.audit.log import AuditChain
from chimera_engine.audit.store import AuditDraft, AuditQuery
from chimera_engine.cli import main as cli_main
from chimera_engine.events import AuditAppended
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from tests.conftest import make_settings


async def _fill(node: HeartNode, session: Session, n: int) -> None:
    await asyncio.gather(
        *(
            node.security.audit.record(session.principal, "test.event", target=f"t{i}", i=i)
            for i in range(n)
        )
    )


async def test_audit_logging(node: HeartNode, admin: Session) -> None:
    sub = node.bus.subscribe(AuditAppended)
    entry = await node.security.audit.record(
        admin.principal, "patch.approve", target="patch-7", version=3, password="hunter2!!"
    )
    assert entry.seq > 0
    assert entry.actor == "admin"
    assert entry.role == "admin"
    assert entry.detail == {"version": 3, "password": "<redacted>"}
    published = await asyncio.wait_for(sub.get(), 1)
    assert isinstance(published, AuditAppended)
    assert published.entry == entry
    assert node.security.audit.latest(1) == [entry]
    rows = await node.facade.audit.query(admin.principal, AuditQuery(action_prefix="patch."))
    assert rows == [entry]
    result = await node.facade.audit.verify(admin.principal)
    assert result.ok
    assert result.checked >= 3


async def test_ring_keeps_latest_entries(tmp_path: Path) -> None:
    node = HeartNode(make_settings(tmp_path, CHIMERA_AUDIT__RING_SIZE="50"))
    await node.start()
    try:
        admin = await node.facade.sessions.create_first_admin("admin", "correct horse battery")
        await _fill(node, admin, 120)
        ring = node.security.audit.latest(1000)
        assert len(ring) == 50
        assert ring[-1].detail == {"i": 119}
        assert [e.seq for e in ring] == sorted(e.seq for e in ring)
        persisted = await node.security.audit.query(AuditQuery(limit=10_000))
        assert len(persisted) >= 122
    finally:
        await node.stop()


async def test_audit_query_filters(node: HeartNode, admin: Session) -> None:
    await node.security.audit.record(admin.principal, "patch.approve", target="patch-42_x%")
    await node.security.audit.record(
        None, "auth.login", target="eve", outcome="denied", actor="eve"
    )
    q = node.security.audit.query
    assert [e.target for e in await q(AuditQuery(action_prefix="patch."))] == ["patch-42_x%"]
    assert [e.actor for e in await q(AuditQuery(outcome="denied"))] == ["eve"]
    assert len(await q(AuditQuery(text="42_x%"))) == 1
    assert await q(AuditQuery(text="_")) != []
    assert await q(AuditQuery(text="nothing-like-this")) == []


async def _tampered_node(
    tmp_path: Path, *statements: str | tuple[str, tuple[object, ...]]
) -> tuple[str, int]:
    settings = make_settings(tmp_path)
    node = HeartNode(settings)
    await node.start()
    admin = await node.facade.sessions.create_first_admin("admin", "correct horse battery")
    await _fill(node, admin, 20)
    await node.stop()
    with sqlite3.connect(settings.database_path) as conn:
        for statement in statements:
            sql, args = statement if isinstance(statement, tuple) else (statement, ())
            conn.execute(sql, args)
    node = HeartNode(settings)
    await node.start()
    try:
        result = await node.security.audit.verify()
    finally:
        await node.stop()
    assert not result.ok
    assert result.first_bad_seq is not None
    return result.reason, result.first_bad_seq


async def test_chain_detects_edited_row(tmp_path: Path) -> None:
    reason, seq = await _tampered_node(
        tmp_path, "UPDATE audit SET outcome = 'ok', target = 'nothing' WHERE seq = 7"
    )
    assert seq == 7
    assert "altered" in reason


async def test_chain_detects_deleted_row(tmp_path: Path) -> None:
    reason, seq = await _tampered_node(tmp_path, "DELETE FROM audit WHERE seq = 9")
    assert seq == 9
    assert "missing" in reason


async def test_chain_detects_deleted_tail(tmp_path: Path) -> None:
    reason, seq = await _tampered_node(tmp_path, "DELETE FROM audit WHERE seq >= 20")
    assert seq == 20
    assert "deleted from the end" in reason


async def test_chain_detects_reordered_rows(tmp_path: Path) -> None:
    reason, seq = await _tampered_node(
        tmp_path,
        "UPDATE audit SET seq = -1 WHERE seq = 5",
        "UPDATE audit SET seq = 5 WHERE seq = 6",
        "UPDATE audit SET seq = 6 WHERE seq = -1",
    )
    assert seq == 5
    assert "link" in reason


async def test_chain_detects_rewritten_hash(tmp_path: Path) -> None:
    """Recomputing a plain SHA-256 is not enough: the chain is keyed."""
    import hashlib

    _reason, seq = await _tampered_node(
        tmp_path,
        (
            "UPDATE audit SET target = 'x', hash = ? WHERE seq = 3",
            (hashlib.sha256(b"f").hexdigest(),),
        ),
    )
    assert seq == 3


async def test_cli_audit_verify_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path)
    node = HeartNode(settings)
    await node.start()
    admin = await node.facade.sessions.create_first_admin("admin", "correct horse battery")
    await _fill(node, admin, 5)
    await node.stop()
    code = await asyncio.to_thread(cli_main, ["--data-dir", str(tmp_path), "audit", "verify"])
    assert code == 0
    assert "intact" in capsys.readouterr().out
    with sqlite3.connect(settings.database_path) as conn:
        conn.execute("UPDATE audit SET actor = 'nobody' WHERE seq = 4")
    code = await asyncio.to_thread(cli_main, ["audit", "verify", "--data-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "broken at entry 4" in out


def test_entry_hash_is_the_hmac_of_the_length_prefixed_fields() -> None:
    """Pinned to the encoding written out by hand: a cached key or a detail passed in
    must not change a single byte of what is hashed."""
    key = b"k" * 32
    chain = AuditChain(key)
    draft = AuditDraft(
        ts=1.5,
        actor="ann\x1fadmin",
        role="operator",
        action="user.create",
        target="bob",
        outcome="ok",
        detail={"b": 1, "a": "\u00e9"},
    )
    detail = '{"a":"\\u00e9","b":1}'
    fields = ("prev", "7", "1.5", "ann\x1fadmin", "operator", "user.create", "bob", "ok", detail)
    message = b"chimera-audit/2" + b"".join(
        len(f.encode()).to_bytes(4, "big") + f.encode() for f in fields
    )
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    assert chain.entry_hash("prev", 7, draft) == expected
    assert chain.entry_hash("prev", 7, draft, detail) == expected
    assert chain.entry_hash("prev", 8, draft) != expected  # the keyed state is not reused
    assert chain.entry_hash("prev", 7, draft) == expected
    assert AuditChain(b"x" * 32).entry_hash("prev", 7, draft) != expected
    assert chain.entry_hash("prev", 7, replace(draft, detail={})) != expected
