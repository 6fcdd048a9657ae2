"""What :meth:`HeartNode.status` reports, and the check a data directory must pass
before an engine uses it."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

from chimera_engine.errors import DataDirError


@dataclass(frozen=True, kw_only=True)
class NodeStatus:
    """A health snapshot, cheap to take (no I/O)."""

    state: str
    uptime_s: float
    data_dir: str
    database: str
    schema_version: int
    tasks: int
    loop_lag_p50_ms: float
    loop_lag_p99_ms: float
    audit_entries_in_memory: int
    event_subscribers: int
    db_transactions: int
    workspace: str
    modules: int
    tools: int
    startup_problems: tuple[str, ...]
    #: modules whose file is gone while their version still serves
    pending_deletions: tuple[str, ...]
    api_url: str
    api_error: str
    swarm_error: str


def check_data_dir(path: os.PathLike[str] | str) -> None:
    """Create ``path`` if needed and prove it is writable; :class:`DataDirError` if not."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create data directory {path}: {exc.strerror}") from None
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise DataDirError(f"data directory {path} is not writable: {exc.strerror}") from None
