"""The SQLite database: WAL mode, one writer thread, a small pool of reader threads.

Nothing here runs SQL on the event-loop thread. Writes are jobs (callables taking
a connection) executed by a dedicated writer thread; jobs queued together run in
one transaction, each inside its own savepoint so one failing job does not undo
the others. ``await db.write(job)`` returns once the transaction holding the job
has committed (``synchronous=FULL``: a committed row survives kill -9 and power loss).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from chimera_engine.errors import StoreError
from chimera_engine.store.migrations import MIGRATIONS, Migration, migrate, schema_version

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 5000
_MAX_BATCH = 512


def describe_sqlite_error(path: Path, exc: BaseException) -> str:
    """Turn an sqlite3 error into one line an operator can act on."""
    text = str(exc)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return f"database {path} is locked by another process (waited {_BUSY_TIMEOUT_MS} ms)"
    if "full" in lowered:
        return f"database {path}: disk or quota full; nothing was written ({text})"
    if "readonly" in lowered or "read-only" in lowered:
        return f"database {path} is read-only; check the permissions of the data directory"
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return (
            f"database {path} is corrupted ({text}); restore it from a backup "
            "or move it aside to start afresh"
        )
    if "unable to open" in lowered:
        return f"database {path} cannot be opened ({text})"
    return f"database {path}: {text}"


def _restrict(path: Path) -> None:
    """Password hashes and the audit log are for the owner only: the database file is
    created 0600 and a data directory readable by others is tightened to 0700."""
    parent = path.parent
    try:
        info = parent.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(parent, 0o700)
        for name in (path.name, path.name + "-wal", path.name + "-shm"):
            candidate = parent / name
            if name == path.name and not candidate.exists():
                os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT, 0o600))
            if candidate.exists() and candidate.stat().st_mode & 0o077:
                os.chmod(candidate, 0o600)
    except OSError:
        pass  # a read-only or foreign directory: opening reports what matters


@dataclass
class _Job:
    fn: Callable[[sqlite3.Connection], Any]
    future: concurrent.futures.Future[Any]


_STOP = object()


class Database:
    """Owns the SQLite file. Call :meth:`open` before use and :meth:`close` after."""

    def __init__(
        self,
        path: Path,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        readers: int = 2,
    ) -> None:
        self.path = path
        self._migrations = migrations
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._readers = concurrent.futures.ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="chimera-db-read"
        )
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self.transactions = 0
        self.jobs_done = 0

    def change_stamp(self) -> tuple[tuple[int, int] | None, ...]:
        """Size and modification time of the database file and its write-ahead log: a
        commit by any process on this file changes it (two stat calls, no SQLite, cheap
        enough for the loop thread). Pollers compare it before reading anything."""
        stamp: list[tuple[int, int] | None] = []
        for path in (self.path, self.path.with_name(self.path.name + "-wal")):
            try:
                st = os.stat(path)
            except OSError:
                stamp.append(None)
            else:
                stamp.append((st.st_size, st.st_mtime_ns))
        return tuple(stamp)

    # -- lifecycle -------------------------------------------------------------------
    async def open(self) -> None:
        """Open (creating if needed), check integrity, migrate, start the writer."""
        await asyncio.get_running_loop().run_in_executor(self._readers, self._open_sync)

    def open_sync(self) -> None:
        """Blocking variant of :meth:`open` for tools that have no event loop."""
        self._open_sync()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1e3
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _open_sync(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}") from None
        _restrict(self.path)
        try:
            conn = self._connect()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal" and os.access(self.path.parent, os.W_OK):
                raise StoreError(f"database {self.path}: cannot switch to WAL mode ({mode})")
            conn.execute("PRAGMA synchronous = FULL")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(describe_sqlite_error(self.path, sqlite3.DatabaseError(check)))
            migrate(conn, self._migrations)
        except sqlite3.Error as exc:
            raise StoreError(describe_sqlite_error(self.path, exc)) from None
        except RuntimeError as exc:
            raise StoreError(f"database {self.path}: {exc}") from None
        self._write_conn = conn
        self._writer = threading.Thread(
            target=self._write_loop, name="chimera-db-writer", daemon=True
        )
        self._writer.start()

    async def close(self) -> None:
        """Finish queued writes, stop the writer and close every connection."""
        await asyncio.get_running_loop().run_in_executor(None, self.close_sync)

    def close_sync(self) -> None:
        if self._writer is not None:
            self._jobs.put(_STOP)
            self._writer.join()
            self._writer = None
        if self._write_conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._write_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._write_conn.close()
            self._write_conn = None
        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    def schema_version_sync(self) -> int:
        conn = self._reader_conn()
        return schema_version(conn)

    # -- writes -----------------------------------------------------------------------
    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> concurrent.futures.Future[T]:
        """Queue a write job from any thread; the future resolves after commit."""
        if self._writer is None:
            raise StoreError(f"database {self.path} is not open")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put(_Job(fn, future))
        return future

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in the writer thread inside a transaction; await its commit."""
        return await asyncio.wrap_future(self.submit(fn))

    def _write_loop(self) -> None:
        conn = self._write_conn
        assert conn is not None
        while True:
            first = self._jobs.get()
            if first is _STOP:
                return
            batch: list[_Job] = [first]  # type: ignore[list-item]
            stop_after = False
            while len(batch) < _MAX_BATCH:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop_after = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            self._run_batch(conn, batch)
            if stop_after:
                return

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        results: list[tuple[_Job, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            err = StoreError(describe_sqlite_error(self.path, exc))
            for job in batch:
                job.future.set_exception(err)
            return
        for job in batch:
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                conn.execute("SAVEPOINT job")
                value = job.fn(conn)
                conn.execute("RELEASE job")
                results.append((job, True, value))
            except BaseException as exc:  # the job's own failure goes to its caller
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                if isinstance(exc, sqlite3.Error):
                    exc = StoreError(describe_sqlite_error(self.path, exc))
                results.append((job, False, exc))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            err = StoreError(describe_sqlite_error(self.path, exc))
            for job, _, _ in results:
                job.future.set_exception(err)
            return
        self.transactions += 1
        self.jobs_done += len(results)
        for job, ok, value in results:
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    # -- reads ------------------------------------------------------------------------
    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            self._reader_local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    def read_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a read-only connection of the calling thread (not the loop thread)."""
        try:
            return fn(self._reader_conn())
        except sqlite3.Error as exc:
            raise StoreError(describe_sqlite_error(self.path, exc)) from None

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a reader thread's connection and return its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self.read_sync, fn)
