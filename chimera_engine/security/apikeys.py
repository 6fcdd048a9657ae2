"""API keys for external clients: shown once, stored only as a keyed hash.

A key looks like ``chk_<8 hex prefix>_<43 random characters>``. The prefix is
stored in clear so operators can tell keys apart; the rest only as an
HMAC-SHA256 under a key derived from the install secret. Verification is a
dictionary lookup and one HMAC: microseconds, no I/O. ``last_used_at`` is
updated in memory and flushed to the database in batches.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from chimera_engine.errors import AuthenticationError, NotFoundError, ValidationError
from chimera_engine.security.names import check_name
from chimera_engine.security.permissions import Permission, Role, parse_role, permissions_of
from chimera_engine.security.principal import Principal
from chimera_engine.store.db import Database

_COLUMNS = (
    "id, name, prefix, key_hash, role, scopes, rate_limit, created_at, created_by, expires_at, "
    "revoked_at, last_used_at"
)


@dataclass(frozen=True, kw_only=True)
class APIKey:
    id: int
    name: str
    prefix: str
    role: Role
    scopes: tuple[str, ...]
    rate_limit: int | None
    created_at: float
    created_by: str
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    def state(self, now: float) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _row(row: tuple[Any, ...]) -> tuple[APIKey, str]:
    key = APIKey(
        id=row[0],
        name=row[1],
        prefix=row[2],
        role=Role(row[4]),
        scopes=tuple(json.loads(row[5])),
        rate_limit=row[6],
        created_at=row[7],
        created_by=row[8],
        expires_at=row[9],
        revoked_at=row[10],
        last_used_at=row[11],
    )
    return key, row[3]


class APIKeyStore:
    def __init__(self, db: Database, pepper: bytes, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._pepper = pepper
        self._clock = clock
        self._by_prefix: dict[str, tuple[APIKey, str]] = {}
        self._used: dict[int, float] = {}

    def _digest(self, plaintext: str) -> str:
        return hmac.new(self._pepper, plaintext.encode(), hashlib.sha256).hexdigest()

    async def load(self) -> None:
        rows = await self._db.read(
            lambda c: c.execute(f"SELECT {_COLUMNS} FROM api_keys").fetchall()
        )
        self._by_prefix = {r[2]: _row(r) for r in rows}

    async def create(
        self,
        *,
        name: str,
        role: Role | str,
        scopes: Iterable[str] = (),
        expires_at: float | None = None,
        rate_limit: int | None = None,
        created_by: str,
    ) -> tuple[str, APIKey]:
        """Create a key; returns the plaintext (shown once, never stored) and its record."""
        name = check_name(name.strip(), "key name")
        if not 1 <= len(name) <= 80:
            raise ValidationError("key name must be 1-80 characters")
        try:
            parsed = parse_role(str(role))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        scope_list = sorted(set(scopes))
        allowed = {p.value for p in permissions_of(parsed)}
        unknown = [s for s in scope_list if s not in {p.value for p in Permission}]
        if unknown:
            raise ValidationError(f"unknown scope(s): {', '.join(unknown)}")
        beyond = [s for s in scope_list if s not in allowed]
        if beyond:
            raise ValidationError(f"role {parsed.value} does not hold: {', '.join(beyond)}")
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise ValidationError("expiry must be in the future")
        if rate_limit is not None and not 1 <= rate_limit <= 100_000:
            raise ValidationError("rate limit must be 1-100000 requests per minute")
        prefix = secrets.token_hex(4)
        while prefix in self._by_prefix:
            prefix = secrets.token_hex(4)
        plaintext = f"chk_{prefix}_{secrets.token_urlsafe(32)}"
        digest = self._digest(plaintext)

        def insert(conn: sqlite3.Connection) -> tuple[APIKey, str]:
            cur = conn.execute(
                "INSERT INTO api_keys(name, prefix, key_hash, role, scopes, rate_limit, created_at,"
                " created_by, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    name,
                    prefix,
                    digest,
                    parsed.value,
                    json.dumps(scope_list),
                    rate_limit,
                    now,
                    created_by,
                    expires_at,
                ),
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
            return _row(row)

        record, stored = await self._db.write(insert)
        self._by_prefix[prefix] = (record, stored)
        return plaintext, record

    def authenticate(self, plaintext: str) -> tuple[APIKey, Principal]:
        """The key and the principal it acts as; :class:`AuthenticationError` if refused."""
        ascii_text = isinstance(plaintext, str) and plaintext.isascii()
        parts = plaintext.split("_", 2) if ascii_text else []
        if len(parts) != 3 or parts[0] != "chk":
            raise AuthenticationError("malformed API key")
        found = self._by_prefix.get(parts[1])
        if found is None or not hmac.compare_digest(found[1], self._digest(plaintext)):
            raise AuthenticationError("unknown API key")
        key = found[0]
        now = self._clock()
        state = key.state(now)
        if state != "active":
            raise AuthenticationError(f"API key {key.prefix} is {state}")
        self._used[key.id] = now
        principal = Principal(
            user_id=None,
            name=f"key:{key.name}",
            role=key.role,
            via="api_key",
            token_id=key.prefix,
            expires_at=key.expires_at,
            scopes=frozenset(key.scopes) if key.scopes else None,
        )
        return key, principal

    async def revoke(self, key_id: int) -> APIKey:
        found = next(((p, k, h) for p, (k, h) in self._by_prefix.items() if k.id == key_id), None)
        if found is None:
            raise NotFoundError(f"API key {key_id} does not exist")
        prefix, key, stored = found
        if key.revoked_at:
            return key
        now = self._clock()
        await self._db.write(
            lambda c: c.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ?", (now, key_id))
        )
        revoked = replace(key, revoked_at=now)
        self._by_prefix[prefix] = (revoked, stored)
        return revoked

    def list(self) -> list[APIKey]:
        """Every key, newest first, with in-memory last-use times."""
        keys = [
            replace(k, last_used_at=self._used.get(k.id, k.last_used_at))
            for k, _ in self._by_prefix.values()
        ]
        return sorted(keys, key=lambda k: -k.created_at)

    def by_prefix(self, prefix: str) -> APIKey | None:
        found = self._by_prefix.get(prefix)
        return found[0] if found else None

    def get(self, key_id: int) -> APIKey:
        for key in self.list():
            if key.id == key_id:
                return key
        raise NotFoundError(f"API key {key_id} does not exist")

    async def flush_last_used(self) -> None:
        """Persist last-use times gathered since the previous flush."""
        if not self._used:
            return
        used, self._used = self._used, {}
        for prefix, (key, stored) in list(self._by_prefix.items()):
            if key.id in used:
                self._by_prefix[prefix] = (replace(key, last_used_at=used[key.id]), stored)
        await self._db.write(
            lambda c: c.executemany(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                [(ts, key_id) for key_id, ts in used.items()],
            )
        )
