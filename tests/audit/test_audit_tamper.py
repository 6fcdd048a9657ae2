"""Cutting the audit chain, as an editor of the database would, against the real CLI.

Each scenario edits the SQLite file directly (the attacker has the file, not the
install secret) and then asks ``chimera audit verify`` in a separate process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chimera_engine.audit import store as audit_store
from chimera_engine.audit.anchor import AuditTamperError
from chimera_engine.audit.log import AuditChain
from chimera_engine.audit.store import AuditDraft
from chimera_engine.errors import AuthenticationError
from chimera_engine.events import AuditTampered
from chimera_engine.node import HeartNode
from chimera_engine.security.secrets import derive_key, load_or_create_secret
from chimera_engine.store.db import Database
from chimera_engine.store.migrations import MIGRATIONS
from tests.conftest import ADMIN_PASSWORD, make_settings

PASSWORD = "correct horse battery\n"


def chimera(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chimera_engine", "--data-dir", str(data_dir), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    """A log of a few dozen entries: an admin, users, logins and a refused login."""
    node = HeartNode(make_settings(tmp_path))
    await node.start()
    try:
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        for name in ("ops1", "ops2", "ops3"):
            await node.facade.admin.create_user(admin.principal, name, ADMIN_PASSWORD, "operator")
        for _ in range(3):
            await node.facade.sessions.login("ops1", ADMIN_PASSWORD)
        with pytest.raises(AuthenticationError):  # a user name holding 0x1f
            await node.facade.sessions.login("admin\x1fops", "wrong password")
    finally:
        await node.stop()
    return tmp_path


def db(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "chimera.sqlite3", isolation_level=None)


def last_seq(data_dir: Path) -> int:
    with db(data_dir) as conn:
        return int(conn.execute("SELECT MAX(seq) FROM audit").fetchone()[0] or 0)


def test_intact_log_verifies(data_dir: Path) -> None:
    result = chimera(data_dir, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact" in result.stdout


def test_a_cut_tail_is_not_chained_onto(data_dir: Path) -> None:
    end = last_seq(data_dir)
    with db(data_dir) as conn:
        conn.execute("DELETE FROM audit WHERE seq > ?", (end - 3,))
        # the attacker also fixes up the head record to the shortened tail
        conn.execute("DELETE FROM meta WHERE key = 'audit_head'")
    # anything audited now must refuse to chain onto the shortened log
    added = chimera(data_dir, "user", "add", "late", stdin=PASSWORD)
    assert added.returncode != 0
    assert "audit" in added.stderr and "missing" in added.stderr
    result = chimera(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert f"entries {end - 2}..{end} are missing" in result.stdout or "head" in result.stdout
    assert last_seq(data_dir) == end - 3  # nothing was chained on


def test_b_emptied_log_never_verifies_as_empty(data_dir: Path) -> None:
    with db(data_dir) as conn:
        conn.execute("DELETE FROM audit")
        conn.execute("DELETE FROM meta WHERE key = 'audit_head'")
    result = chimera(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert "intact" not in result.stdout
    assert "missing" in result.stdout


def test_b_emptied_log_without_its_checkpoint(data_dir: Path) -> None:
    with db(data_dir) as conn:
        conn.execute("DELETE FROM audit")
        conn.execute("DELETE FROM meta WHERE key IN ('audit_head', 'audit_anchored')")
    (data_dir / "chimera.sqlite3.audit-checkpoint").unlink()
    result = chimera(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert "users exist" in result.stdout


def test_c_rolled_back_head_is_found(data_dir: Path) -> None:
    with db(data_dir) as conn:
        old_head = conn.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()[0]
    before = last_seq(data_dir)
    assert (
        chimera(data_dir, "user", "add", "evil-admin", "--role", "admin", stdin=PASSWORD).returncode
        == 0
    )
    with db(data_dir) as conn:
        conn.execute("DELETE FROM audit WHERE seq > ?", (before,))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (old_head,))
    result = chimera(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert "missing" in result.stdout
    assert "evil-admin" in chimera(data_dir, "user", "list").stdout  # the account is still there


def test_c_rolled_back_log_and_checkpoint_still_show_the_erased_user(data_dir: Path) -> None:
    checkpoint = data_dir / "chimera.sqlite3.audit-checkpoint"
    with db(data_dir) as conn:
        old_head = conn.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()[0]
    old_checkpoint = checkpoint.read_bytes()
    before = last_seq(data_dir)
    assert (
        chimera(data_dir, "user", "add", "evil-admin", "--role", "admin", stdin=PASSWORD).returncode
        == 0
    )
    with db(data_dir) as conn:
        conn.execute("DELETE FROM audit WHERE seq > ?", (before,))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (old_head,))
    checkpoint.write_bytes(old_checkpoint)
    # a rolled-back log and checkpoint agree with each other: the users table tells
    result = chimera(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert "creation is not in the log: evil-admin" in result.stdout


def test_c_forged_checkpoint_is_refused(data_dir: Path) -> None:
    checkpoint = data_dir / "chimera.sqlite3.audit-checkpoint"
    checkpoint.write_text(checkpoint.read_text().replace('"count": ', '"count": 1'))
    result = chimera(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert "checkpoint" in result.stdout


def test_d_field_boundaries_cannot_move(data_dir: Path) -> None:
    with db(data_dir) as conn:
        seq, actor, role = conn.execute(
            "SELECT seq, actor, role FROM audit WHERE action = 'auth.login' AND outcome = 'denied'"
        ).fetchone()
        assert (actor, role) == ("admin\x1fops", "")
        # ("admin\x1fops", "") and ("admin", "ops\x1f") joined by 0x1f are the same bytes:
        # the refused stranger's attempt becomes one by "admin"
        conn.execute("UPDATE audit SET actor = 'admin', role = ? WHERE seq = ?", ("ops\x1f", seq))
    result = chimera(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert f"broken at entry {seq}" in result.stdout
    assert "altered" in result.stdout


def test_legacy_encoding_was_ambiguous() -> None:
    chain = AuditChain(b"k" * 32)
    base = {"ts": 1.0, "action": "a", "target": "t", "outcome": "ok", "detail": {}}
    one = AuditDraft(actor="admin\x1fops", role="", **base)  # type: ignore[arg-type]
    two = AuditDraft(actor="admin", role="ops\x1f", **base)  # type: ignore[arg-type]
    assert chain.legacy_hash("", 1, one) == chain.legacy_hash("", 1, two)
    assert chain.entry_hash("", 1, one) != chain.entry_hash("", 1, two)


async def test_a_chain_written_before_the_new_encoding_still_verifies(tmp_path: Path) -> None:
    """Entries hashed with the first encoding stay verifiable; new ones use the new one."""
    settings = make_settings(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    key = derive_key(load_or_create_secret(settings.secret_path), "audit")
    chain = AuditChain(key)
    old = Database(settings.database_path, migrations=[m for m in MIGRATIONS if m.version <= 9])
    await old.open()
    drafts = [
        AuditDraft(
            ts=1_700_000_000.0 + i,
            actor="local:root",
            role="admin",
            action="user.create" if i == 0 else "tool.call",
            target="legacy-admin" if i == 0 else f"t{i}",
            outcome="ok",
            detail={"i": i},
        )
        for i in range(5)
    ]
    await old.write(
        lambda c: audit_store.append_batch(c, drafts, chain.legacy_hash, chain.legacy_head_mac)
    )
    await old.write(
        lambda c: c.execute(
            "INSERT INTO users(username, password_hash, role, created_at) "
            "VALUES ('legacy-admin', 'x', 'admin', 1)"
        )
    )
    await old.close()
    first = chimera(tmp_path, "audit", "verify")  # migrates, anchors, verifies
    assert first.returncode == 0, first.stdout + first.stderr
    assert "intact" in first.stdout  # the 5 old entries and those of this start
    assert chimera(tmp_path, "user", "add", "fresh", stdin=PASSWORD).returncode == 0
    second = chimera(tmp_path, "audit", "verify")
    assert second.returncode == 0, second.stdout
    with db(tmp_path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'audit_v2_from'").fetchone() == (
            "6",
        )
        conn.execute("UPDATE audit SET target = 't9' WHERE seq = 3")
    third = chimera(tmp_path, "audit", "verify")
    assert third.returncode == 1 and "broken at entry 3" in third.stdout


async def test_rollback_of_log_and_checkpoint_is_found_against_an_export(tmp_path: Path) -> None:
    export = tmp_path / "shipped" / "audit.jsonl"
    export.parent.mkdir()
    settings = make_settings(tmp_path / "data", CHIMERA_AUDIT__EXPORT_PATH=str(export))
    node = HeartNode(settings)
    await node.start()
    try:
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        await node.facade.sessions.login("admin", ADMIN_PASSWORD)
        checkpoint = settings.database_path.with_name("chimera.sqlite3.audit-checkpoint")
        snapshot = checkpoint.read_bytes()
        await node.facade.audit.verify(admin.principal)
        await node.security.audit.flush()
    finally:
        await node.stop()
    lines = export.read_text().splitlines()
    assert len(lines) >= 3 and '"hash"' in lines[-1]
    data = tmp_path / "data"
    ok = chimera(data, "audit", "verify", "--against", str(export))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the last entry and the checkpoint are rolled back together; only the copy tells
    with db(data) as conn:
        conn.execute("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
        conn.execute("DELETE FROM meta WHERE key = 'audit_head'")
    checkpoint.write_bytes(snapshot)
    caught = chimera(data, "audit", "verify", "--against", str(export))
    assert caught.returncode == 1
    assert "missing from the database" in caught.stdout


async def test_a_serving_engine_raises_the_alarm_and_refuses(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with HeartNode(settings) as node:
        tampered = node.bus.subscribe(AuditTampered)
        await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        await node.security.audit.flush()
        with db(tmp_path) as conn:
            conn.execute("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)")
        with pytest.raises(AuditTamperError, match="missing"):
            await node.facade.sessions.login("admin", ADMIN_PASSWORD)
        alarm = await asyncio.wait_for(tampered.get(), 2)
        assert isinstance(alarm, AuditTampered)
        assert "missing" in alarm.reason
        assert node.security.audit.tampered
        tampered.close()
