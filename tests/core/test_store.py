"""The SQLite store: migrations, durability under kill -9, and clear errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from chimera_engine.errors import DataDirError, StoreError
from chimera_engine.node import HeartNode
from chimera_engine.store.db import Database
from chimera_engine.store.migrations import MIGRATIONS, migrate, schema_version
from tests.conftest import ADMIN_PASSWORD, make_settings


def test_migrations_from_empty(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    assert migrate(conn) == [m.version for m in MIGRATIONS]
    assert schema_version(conn) == MIGRATIONS[-1].version
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "audit", "meta", "revoked_tokens"} <= tables
    assert migrate(conn) == []  # idempotent


@pytest.mark.parametrize("start", range(1, len(MIGRATIONS)))
def test_migrations_from_previous_schema_keep_data(tmp_path: Path, start: int) -> None:
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    migrate(conn, MIGRATIONS[:start])
    conn.execute(
        "INSERT INTO users(username, password_hash, role, created_at) "
        "VALUES ('old', 'h', 'admin', 42.0)"
    )
    assert migrate(conn) == [m.version for m in MIGRATIONS[start:]]
    row = conn.execute("SELECT username, role, created_at FROM users").fetchone()
    assert row == ("old", "admin", 42.0)
    if start == 1:  # v2 back-fills the password change time
        changed = conn.execute("SELECT password_changed_at FROM users").fetchone()[0]
        assert changed == 42.0


def test_database_newer_than_program_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    sqlite3.connect(path).execute("PRAGMA user_version = 999").connection.close()
    db = Database(path)
    with pytest.raises(StoreError, match="newer than this program supports"):
        db.open_sync()


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    from chimera_engine.store.migrations import Migration

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    with pytest.raises(RuntimeError, match="boom"):
        migrate(conn, (*MIGRATIONS, Migration(99, "broken", broken)))
    assert schema_version(conn) == MIGRATIONS[-1].version
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='half'").fetchone() is None


async def test_one_failing_job_does_not_undo_its_batch(tmp_path: Path) -> None:
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    try:

        def ok(i: int):
            return lambda c: c.execute("INSERT INTO meta(key, value) VALUES (?, 'v')", (f"k{i}",))

        def bad(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO meta(key, value) VALUES ('k1', 'dup')")

        results = await asyncio.gather(
            db.write(ok(1)), db.write(bad), db.write(ok(2)), return_exceptions=True
        )
        assert isinstance(results[1], StoreError)
        keys = await db.read(
            lambda c: [
                r[0] for r in c.execute("SELECT key FROM meta WHERE key LIKE 'k%' ORDER BY key")
            ]
        )
        assert keys == ["k1", "k2"]
    finally:
        await db.close()


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from chimera_engine.store.db import Database

    async def main() -> None:
        db = Database(Path(sys.argv[1]))
        await db.open()
        i = 0
        while True:
            batch = [i + k for k in range(20)]
            await asyncio.gather(*(db.write(lambda c, n=n: c.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)", (f"row{n}", "x" * 200)))
                for n in batch))
            print(" ".join(map(str, batch)), flush=True)   # acknowledged: committed
            i += 20

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("kill_after_lines", [3, 40])
def test_kill_9_during_writes_loses_no_committed_row(tmp_path: Path, kill_after_lines: int) -> None:
    path = tmp_path / "db.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acknowledged: list[int] = []
    for _ in range(kill_after_lines):
        acknowledged.extend(int(x) for x in proc.stdout.readline().split())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {r[0] for r in conn.execute("SELECT key FROM meta")}
    missing = [n for n in acknowledged if f"row{n}" not in stored]
    assert acknowledged
    assert missing == []


async def test_corrupted_database_gives_clear_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    settings.database_path.write_bytes(b"this is not a database at all" * 200)
    node = HeartNode(settings)
    with pytest.raises(StoreError, match="is corrupted"):
        await node.start()
    assert node.state == "failed"
    # nothing was overwritten: the operator can still recover the file
    assert settings.database_path.read_bytes().startswith(b"this is not a database")


async def test_locked_database_gives_clear_error(tmp_path: Path, monkeypatch) -> None:
    import chimera_engine.store.db as dbmod

    monkeypatch.setattr(dbmod, "_BUSY_TIMEOUT_MS", 200)
    db = Database(tmp_path / "db.sqlite3")
    await db.open()
    blocker = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            await db.write(lambda c: c.execute("INSERT INTO meta VALUES ('a', 'b')"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await db.write(lambda c: c.execute("INSERT INTO meta VALUES ('a', 'b')"))  # recovers
    await db.close()


async def test_full_disk_loses_nothing_committed(node: HeartNode) -> None:
    admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
    before = await node.security.audit.record(admin.principal, "before.full")
    pages = await node.db.read(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
    await node.db.write(lambda c: c.execute(f"PRAGMA max_page_count = {pages + 1}"))
    with pytest.raises(StoreError, match="full"):
        await asyncio.gather(
            *(
                node.security.audit.record(admin.principal, "big", blob="x" * 4000)
                for _ in range(50)
            )
        )
    await node.db.write(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))
    after = await node.security.audit.record(admin.principal, "after.full")
    assert after.seq == before.seq + 1
    assert (await node.security.audit.verify()).ok


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Drop the effective uid to ``nobody`` while root (root ignores directory modes)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


async def test_read_only_data_dir_refused() -> None:
    base = Path(tempfile.mkdtemp(prefix="chimera-ro-"))
    data = base / "data"
    try:
        base.chmod(0o755)
        data.mkdir()
        data.chmod(0o555)
        with unprivileged(), pytest.raises(DataDirError, match="is not writable"):
            await HeartNode(make_settings(data)).start()
        assert list(data.iterdir()) == []
    finally:
        data.chmod(0o755)
        shutil.rmtree(base)


async def test_data_dir_that_is_a_file_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(DataDirError, match="cannot create data directory"):
        await HeartNode(make_settings(target / "sub")).start()
