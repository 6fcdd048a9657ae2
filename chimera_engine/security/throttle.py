"""Login throttling per (account, source), with delays that grow with each failure.

A hard lock on the account would let anyone who knows a user name lock that user
out (administrators included). Here failures count against the pair of the name
typed and the place the attempt came from (``api:<ip>`` or ``console``): after
``threshold`` failures that pair waits ``base`` seconds, doubling with each
further failure up to ``maximum``; the same user from another place is not
slowed. Names that do not exist are throttled exactly like those that do, so
the behaviour tells nothing about which names exist. State lives in SQLite, so
every engine sharing the database applies it and an administrator can clear it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from chimera_engine.errors import AccountLockedError
from chimera_engine.store.db import Database

_MAX_NAME = 200


@dataclass(frozen=True, kw_only=True)
class LockoutPolicy:
    """After ``threshold`` consecutive failures the pair waits ``base`` seconds,
    doubling with each further failure, up to ``maximum``."""

    threshold: int = 5
    base: float = 30.0
    maximum: float = 900.0

    def lock_seconds(self, failures: int) -> float:
        if failures < self.threshold:
            return 0.0
        return float(min(self.maximum, self.base * 2 ** (failures - self.threshold)))


@dataclass(frozen=True, kw_only=True)
class Throttle:
    """One (account, source) pair with failures on record."""

    account: str
    source: str
    failures: int
    next_allowed_at: float
    updated_at: float


def account_key(username: str) -> str:
    return username.strip().lower()[:_MAX_NAME]


class LoginThrottle:
    def __init__(
        self, db: Database, policy: LockoutPolicy, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self.policy = policy
        self._clock = clock

    async def check(self, username: str, source: str) -> None:
        """Raise :class:`AccountLockedError` while this pair must wait."""
        key = (account_key(username), source)

        def q(conn: sqlite3.Connection) -> float:
            row = conn.execute(
                "SELECT next_allowed_at FROM login_throttles WHERE account = ? AND source = ?",
                key,
            ).fetchone()
            return float(row[0]) if row else 0.0

        wait = await self._db.read(q) - self._clock()
        if wait > 0:
            raise AccountLockedError(
                f"too many failed logins for this name from here; try again in {wait:.0f} s",
                wait,
            )

    async def failed(self, username: str, source: str) -> float:
        """Count a failure; returns the delay it imposes (0 below the threshold)."""
        account, now, policy = account_key(username), self._clock(), self.policy
        horizon = now - 2 * policy.maximum

        def upd(conn: sqlite3.Connection) -> float:
            row = conn.execute(
                "SELECT failures FROM login_throttles WHERE account = ? AND source = ?",
                (account, source),
            ).fetchone()
            failures = (int(row[0]) if row else 0) + 1
            delay = policy.lock_seconds(failures)
            conn.execute(
                "INSERT INTO login_throttles(account, source, failures, next_allowed_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(account, source) DO UPDATE SET "
                "failures = excluded.failures, next_allowed_at = excluded.next_allowed_at, "
                "updated_at = excluded.updated_at",
                (account, source, failures, now + delay, now),
            )
            # forget pairs quiet for long: the table stays small under a name spray
            conn.execute("DELETE FROM login_throttles WHERE updated_at < ?", (horizon,))
            return delay

        return await self._db.write(upd)

    async def succeeded(self, username: str, source: str) -> None:
        key = (account_key(username), source)
        await self._db.write(
            lambda c: c.execute("DELETE FROM login_throttles WHERE account = ? AND source = ?", key)
        )

    async def list(self, limit: int = 500) -> list[Throttle]:
        """Pairs with failures on record, most recent first."""

        def q(conn: sqlite3.Connection) -> list[Throttle]:
            rows = conn.execute(
                "SELECT account, source, failures, next_allowed_at, updated_at "
                "FROM login_throttles ORDER BY updated_at DESC LIMIT ?",
                (limit,),
            )
            return [
                Throttle(
                    account=r[0], source=r[1], failures=r[2], next_allowed_at=r[3], updated_at=r[4]
                )
                for r in rows
            ]

        return await self._db.read(q)

    async def clear(self, username: str, source: str = "") -> int:
        """Forget the failures of ``username`` (from ``source``, or from everywhere)."""
        account = account_key(username)

        def rm(conn: sqlite3.Connection) -> int:
            if source:
                cur = conn.execute(
                    "DELETE FROM login_throttles WHERE account = ? AND source = ?",
                    (account, source),
                )
            else:
                cur = conn.execute("DELETE FROM login_throttles WHERE account = ?", (account,))
            return int(cur.rowcount)

        return await self._db.write(rm)
