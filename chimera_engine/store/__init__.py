"""SQLite persistence: one writer thread, WAL mode, versioned migrations, repositories."""

from __future__ import annotations

from chimera_engine.store.db import Database
from chimera_engine.store.records import AuditEntry, UserRecord

__all__ = ["AuditEntry", "Database", "UserRecord"]
