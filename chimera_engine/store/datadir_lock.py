"""One writer per data dir: the engine that serves it holds ``<data_dir>/serve.lock``.

The lock is an exclusive ``fcntl.flock`` on that file, held for the engine's
whole life; the kernel drops it when the process ends, however it ends, so a
crash never leaves a stale lock behind. The file's content says who holds it
(JSON ``{"pid": int, "api": "http://127.0.0.1:PORT" or null, "started": ISO
time}``); it is informative only, the flock is what counts.

>>> import tempfile
>>> d = tempfile.mkdtemp()
>>> read_server(d) is None
True
>>> lock = acquire_datadir_lock(d)
>>> read_server(d).pid == os.getpid()
True
>>> lock.release()
>>> read_server(d) is None
True
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from chimera_engine.errors import DataDirError

LOCK_NAME = "serve.lock"


@dataclass(frozen=True, kw_only=True)
class LockHolder:
    """Who serves a data dir: its process id, its API address (None if it has no API)."""

    pid: int
    api: str | None
    started: str

    def describe(self) -> str:
        where = f" at {self.api}" if self.api else ""
        return f"an engine (pid {self.pid}{where}) serves this data dir"


class DataDirBusyError(DataDirError):
    """Another engine serves the data dir; ``holder`` says which."""

    code = "data_dir_busy"

    def __init__(self, holder: LockHolder, hint: str = "") -> None:
        advice = hint or "stop it first, or act through it (the console or its HTTP API)"
        super().__init__(f"{holder.describe()}; {advice}")
        self.holder = holder


class DataDirLock:
    """The held lock. Keep it for as long as the engine writes; :meth:`release` at stop."""

    def __init__(self, path: Path, fd: int, started: str) -> None:
        self.path = path
        self._fd: int | None = fd
        self.started = started
        self.api: str | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def set_api(self, api: str | None) -> None:
        """Publish the API address (once the server listens) for other processes."""
        self.api = api
        self._write()

    def _write(self) -> None:
        if self._fd is None:
            return
        body = json.dumps({"pid": os.getpid(), "api": self.api, "started": self.started})
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, body.encode(), 0)
        os.fsync(self._fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _open(data_dir: Path) -> int:
    try:
        return os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise DataDirError(f"cannot open {data_dir / LOCK_NAME}: {exc.strerror}") from None


def _holder(fd: int) -> LockHolder:
    """Parse the holder's note; it may be mid-write for a moment, so try a few times."""
    for _ in range(20):
        raw = os.pread(fd, 4096, 0)
        try:
            data = json.loads(raw)
            return LockHolder(
                pid=int(data["pid"]),
                api=data.get("api") if isinstance(data.get("api"), str) else None,
                started=str(data.get("started", "")),
            )
        except (ValueError, KeyError, TypeError):
            time.sleep(0.01)
    return LockHolder(pid=0, api=None, started="")


def acquire_datadir_lock(data_dir: os.PathLike[str] | str, api: str | None = None) -> DataDirLock:
    """Take the data dir for this process; :class:`DataDirBusyError` if another engine has it.

    Blocking but brief (no waiting for the other holder): call it from an executor
    on the loop if the file system may be slow.
    """
    directory = Path(data_dir)
    fd = _open(directory)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise DataDirBusyError(holder) from None
    except OSError as exc:
        os.close(fd)
        raise DataDirError(f"cannot lock {directory / LOCK_NAME}: {exc.strerror}") from None
    started = datetime.now(UTC).isoformat(timespec="seconds")
    lock = DataDirLock(directory / LOCK_NAME, fd, started)
    lock.set_api(api)
    return lock


def read_server(data_dir: os.PathLike[str] | str) -> LockHolder | None:
    """Who serves ``data_dir`` now, or None when nobody does."""
    path = Path(data_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DataDirError(f"cannot read {path}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def refuse_if_served(data_dir: os.PathLike[str] | str, hint: str = "") -> None:
    """For commands that would write: :class:`DataDirBusyError` if an engine serves."""
    holder = read_server(data_dir)
    if holder is not None:
        raise DataDirBusyError(holder, hint)
