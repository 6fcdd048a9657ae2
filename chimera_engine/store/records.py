"""Plain records read from and written to the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, kw_only=True)
class UserRecord:
    id: int
    username: str
    role: str
    created_at: float
    disabled: bool = False
    failed_logins: int = 0
    locked_until: float = 0.0
    last_login: float | None = None
    password_changed_at: float | None = None
    session_epoch: int = 0


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    """One persisted audit entry. ``hash`` chains it to the entry before it."""

    seq: int
    ts: float
    actor: str
    role: str
    action: str
    target: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""
