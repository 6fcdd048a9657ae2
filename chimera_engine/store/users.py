"""Users repository: every statement runs through :class:`Database` (never on the loop)."""

from __future__ import annotations

import sqlite3
from typing import Any

from chimera_engine.errors import ConflictError, NotFoundError
from chimera_engine.store.db import Database
from chimera_engine.store.records import UserRecord

_COLUMNS = (
    "id, username, role, created_at, disabled, failed_logins, locked_until, last_login, "
    "password_changed_at, session_epoch"
)


def _record(row: tuple[Any, ...]) -> UserRecord:
    return UserRecord(
        id=row[0],
        username=row[1],
        role=row[2],
        created_at=row[3],
        disabled=bool(row[4]),
        failed_logins=row[5],
        locked_until=row[6],
        last_login=row[7],
        password_changed_at=row[8],
        session_epoch=int(row[9] or 0),
    )


class UserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def count(self) -> int:
        return await self._db.read(
            lambda c: int(c.execute("SELECT COUNT(*) FROM users").fetchone()[0])
        )

    async def get(self, username: str) -> tuple[UserRecord, str] | None:
        """The user and its password hash, or None."""

        def q(conn: sqlite3.Connection) -> tuple[UserRecord, str] | None:
            row = conn.execute(
                f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = ?", (username,)
            ).fetchone()
            return None if row is None else (_record(row[:-1]), row[-1])

        return await self._db.read(q)

    async def get_by_id(self, user_id: int) -> UserRecord | None:
        def q(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._db.read(q)

    async def list(self) -> list[UserRecord]:
        def q(conn: sqlite3.Connection) -> list[UserRecord]:
            return [
                _record(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM users ORDER BY username")
            ]

        return await self._db.read(q)

    async def create(
        self,
        username: str,
        password_hash: str,
        role: str,
        now: float,
        *,
        only_if_empty: bool = False,
    ) -> UserRecord:
        """Insert a user. With ``only_if_empty`` the insert fails unless no user exists
        (checked inside the same write transaction, so two first-runs cannot both win)."""

        def insert(conn: sqlite3.Connection) -> UserRecord:
            if only_if_empty and conn.execute("SELECT COUNT(*) FROM users").fetchone()[0]:
                raise ConflictError("an administrator already exists; log in instead")
            try:
                cur = conn.execute(
                    "INSERT INTO users(username, password_hash, role, created_at, "
                    "password_changed_at) VALUES (?, ?, ?, ?, ?)",
                    (username, password_hash, role, now, now),
                )
            except sqlite3.IntegrityError:
                raise ConflictError(f"user {username!r} already exists") from None
            row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (cur.lastrowid,))
            return _record(row.fetchone())

        return await self._db.write(insert)

    async def update(self, user_id: int, **fields: Any) -> UserRecord:
        """Set the named columns; returns the updated record."""
        allowed = {
            "password_hash",
            "role",
            "disabled",
            "failed_logins",
            "locked_until",
            "last_login",
            "password_changed_at",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)

        def upd(conn: sqlite3.Connection) -> UserRecord:
            conn.execute(
                f"UPDATE users SET {assignments} WHERE id = ?", (*fields.values(), user_id)
            )
            row = conn.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"user {user_id} does not exist")
            return _record(row)

        return await self._db.write(upd)

    async def delete(self, user_id: int) -> None:
        """Remove a user (its sessions end on every engine: the users version moves)."""

        def rm(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount == 0:
                raise NotFoundError(f"user {user_id} does not exist")

        await self._db.write(rm)

    async def version(self) -> int:
        """The database-wide users version: it moves whenever any process changes a user."""

        def q(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT value FROM meta WHERE key = 'users_version'").fetchone()
            return int(row[0]) if row else 0

        return await self._db.read(q)
