"""Capability tokens: narrow, short-lived, signed grants of one operation on one object.

A capability says "the bearer may do ``op`` on ``obj`` until ``exp``" (e.g.
``patch.approve`` on ``patch:42``), issued by a principal who holds that
permission. It may be single-use (a replay is refused by its ``jti``),
revoked, or attenuated: its holder can derive a narrower token (same
operation, the same or a narrower object, an earlier expiry, single-use kept)
but never a wider one.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from chimera_engine.errors import AuthenticationError, PermissionDeniedError, ValidationError
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.tokens import ALGORITHM, RevocationList
from chimera_engine.store.db import Database

TYPE = "capability"
MAX_TTL = 3600

# whether the issuer may still grant: a user (id, session epoch) not disabled, deleted,
# demoted or re-passworded since; or an API key (its prefix) still active
IssuerCheck = Callable[[int | None, int, str | None], bool]


@dataclass(frozen=True, kw_only=True)
class Capability:
    jti: str
    op: str
    obj: str
    subject: str
    role: Role
    issued_at: float
    expires_at: float
    single_use: bool
    parent: str | None = None
    revoked_at: float | None = None
    used_at: float | None = None


def covers(granted: str, requested: str) -> bool:
    """Whether object pattern ``granted`` covers ``requested``.

    ``*`` covers everything; ``patch:*`` covers ``patch:42``; otherwise exact.

    >>> covers("patch:*", "patch:42"), covers("patch:42", "patch:43"), covers("*", "x")
    (True, False, True)
    """
    if granted == "*" or granted == requested:
        return True
    return granted.endswith("*") and requested.startswith(granted[:-1])


class CapabilityService:
    def __init__(
        self,
        key: bytes,
        revocations: RevocationList,
        db: Database,
        *,
        issuer: str,
        clock: Callable[[], float] = time.time,
        issuer_valid: IssuerCheck | None = None,
    ) -> None:
        self._key = key
        self._issuer_valid = issuer_valid
        self._revocations = revocations
        self._db = db
        self._issuer = issuer
        self._clock = clock
        self._consumed: set[str] = set()

    async def issue(
        self,
        principal: Principal,
        permission: Permission,
        obj: str,
        *,
        ttl: float = 300,
        single_use: bool = True,
    ) -> tuple[str, Capability]:
        """Grant ``permission`` on ``obj``; the issuer must hold the permission itself."""
        if not principal.can(permission):
            raise PermissionDeniedError(
                f"{principal.name} cannot grant {permission.value}: it does not hold it"
            )
        if principal.via == "capability" and not covers(principal.target or "", obj):
            raise PermissionDeniedError("a capability cannot grant beyond its own object")
        if obj.endswith("*") and not principal.can(Permission.CAPABILITY_ISSUE):
            raise PermissionDeniedError(
                "only an administrator may grant a capability on a wildcard object"
            )
        return await self._mint(
            op=permission.value,
            obj=obj,
            subject=principal.actor,
            role=principal.role,
            ttl=ttl,
            single_use=single_use,
            parent=None,
            issuer_id=principal.user_id,
            issuer_epoch=principal.session_epoch or 0,
            issuer_key=principal.token_id if principal.via == "api_key" else None,
        )

    async def _mint(
        self,
        *,
        op: str,
        obj: str,
        subject: str,
        role: Role,
        ttl: float,
        single_use: bool,
        parent: str | None,
        not_after: float | None = None,
        issuer_id: int | None = None,
        issuer_epoch: int = 0,
        issuer_key: str | None = None,
    ) -> tuple[str, Capability]:
        if not obj or len(obj) > 200:
            raise ValidationError("capability object must be 1-200 characters")
        if not 0 < ttl <= MAX_TTL:
            raise ValidationError(f"capability lifetime must be 1-{MAX_TTL} s")
        now = self._clock()
        expires = now + ttl if not_after is None else min(now + ttl, not_after)
        cap = Capability(
            jti=secrets.token_urlsafe(16),
            op=op,
            obj=obj,
            subject=subject,
            role=role,
            issued_at=now,
            expires_at=expires,
            single_use=single_use,
            parent=parent,
        )
        payload = {
            "iss": self._issuer,
            "aud": f"{self._issuer}-capability",
            "typ": TYPE,
            "jti": cap.jti,
            "sub": subject,
            "role": role.value,
            "op": op,
            "obj": obj,
            "single": single_use,
            "parent": parent,
            "uid": issuer_id,
            "sep": issuer_epoch,
            "kid": issuer_key,
            "iat": int(now),
            "nbf": int(now),
            "exp": expires,
        }
        token = jwt.encode(payload, self._key, algorithm=ALGORITHM)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO capabilities(jti, op, obj, subject, role, issued_at, expires_at, "
                "single_use, parent, issuer_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    cap.jti,
                    op,
                    obj,
                    subject,
                    role.value,
                    now,
                    expires,
                    int(single_use),
                    parent,
                    issuer_id,
                ),
            )

        await self._db.write(insert)
        return token, cap

    def decode(self, token: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token.isascii():
            raise AuthenticationError("malformed capability")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=f"{self._issuer}-capability",
                issuer=self._issuer,
                options={
                    "require": ["exp", "iat", "jti", "op", "obj", "typ", "sub", "role"],
                    "verify_exp": False,  # checked below against the injected clock
                },
            )
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError("capability algorithm is not allowed") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"capability rejected: {exc}") from None
        if payload["typ"] != TYPE:
            raise AuthenticationError("not a capability token")
        if float(payload["exp"]) <= self._clock():
            raise AuthenticationError("capability has expired")
        if self._revocations.is_revoked(payload["jti"]) or (
            payload.get("parent") and self._revocations.is_revoked(payload["parent"])
        ):
            raise AuthenticationError("capability has been revoked or already used")
        return payload

    async def use(self, token: str, permission: Permission, obj: str) -> Principal:
        """Check the token grants ``permission`` on ``obj``; spend it if single-use."""
        payload = self.decode(token)
        if not self.issuer_still_valid(payload):
            raise AuthenticationError("the user who granted this capability can no longer grant it")
        if payload["op"] != permission.value:
            raise PermissionDeniedError(
                f"capability grants {payload['op']}, not {permission.value}"
            )
        if not covers(payload["obj"], obj):
            raise PermissionDeniedError(f"capability is for {payload['obj']}, not {obj}")
        jti = payload["jti"]
        if payload.get("single"):
            if jti in self._consumed:
                raise AuthenticationError("capability has been revoked or already used")
            self._consumed.add(jti)  # before any await: a concurrent replay sees it
            now = self._clock()
            await self._revocations.revoke(jti, float(payload["exp"]), "used")
            await self._db.write(
                lambda c: c.execute("UPDATE capabilities SET used_at = ? WHERE jti = ?", (now, jti))
            )
        uid, kid = payload.get("uid"), payload.get("kid")
        return Principal(
            user_id=uid if isinstance(uid, int) else None,
            session_epoch=int(payload.get("sep") or 0),
            session_family=f"key:{kid}" if kid else None,
            name=str(payload["sub"]),
            role=Role(payload["role"]),
            via="capability",
            token_id=jti,
            expires_at=float(payload["exp"]),
            scopes=frozenset({payload["op"]}),
            target=str(payload["obj"]),
        )

    def issuer_still_valid(self, payload: dict[str, Any]) -> bool:
        """A capability dies with its issuer: a user disabled, deleted or otherwise
        changed, or an API key revoked or expired."""
        uid, epoch, kid = payload.get("uid"), payload.get("sep") or 0, payload.get("kid")
        if self._issuer_valid is None or (uid is None and kid is None):
            return True  # granted by the local owner or the engine itself
        if not isinstance(uid, (int, type(None))) or not isinstance(epoch, int):
            return False
        return self._issuer_valid(uid, epoch, str(kid) if kid is not None else None)

    async def attenuate(
        self,
        token: str,
        *,
        obj: str | None = None,
        ttl: float | None = None,
        single_use: bool | None = None,
    ) -> tuple[str, Capability]:
        """Derive a narrower token from ``token`` (which stays valid)."""
        parent = self.decode(token)
        if not self.issuer_still_valid(parent):
            raise AuthenticationError("the user who granted this capability can no longer grant it")
        new_obj = obj if obj is not None else str(parent["obj"])
        if not covers(str(parent["obj"]), new_obj):
            raise PermissionDeniedError(
                f"cannot widen the object from {parent['obj']!r} to {new_obj!r}"
            )
        if parent.get("single") and single_use is False:
            raise PermissionDeniedError("cannot turn a single-use capability into a reusable one")
        remaining = float(parent["exp"]) - self._clock()
        return await self._mint(
            op=str(parent["op"]),
            obj=new_obj,
            subject=str(parent["sub"]),
            role=Role(parent["role"]),
            ttl=min(ttl or remaining, remaining),
            single_use=bool(parent.get("single")) if single_use is None else single_use,
            parent=str(parent["jti"]),
            not_after=float(parent["exp"]),
            issuer_id=parent.get("uid"),
            issuer_epoch=int(parent.get("sep") or 0),
            issuer_key=parent.get("kid"),
        )

    async def revoke(self, jti: str) -> None:
        now = self._clock()

        def mark(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT expires_at FROM capabilities WHERE jti = ?", (jti,)
            ).fetchone()
            if row is None:
                return None
            conn.execute("UPDATE capabilities SET revoked_at = ? WHERE jti = ?", (now, jti))
            return float(row[0])

        expires = await self._db.write(mark)
        if expires is None:
            raise ValidationError(f"no capability {jti!r}")
        await self._revocations.revoke(jti, expires, "revoked")

    async def in_force(self) -> list[Capability]:
        """Capabilities neither expired, revoked nor spent (for the admin panel)."""
        now = self._clock()

        def q(conn: sqlite3.Connection) -> list[Capability]:
            rows = conn.execute(
                "SELECT jti, op, obj, subject, role, issued_at, expires_at, single_use, parent, "
                "revoked_at, used_at FROM capabilities WHERE expires_at > ? AND revoked_at IS NULL "
                "AND used_at IS NULL ORDER BY issued_at DESC LIMIT 500",
                (now,),
            )
            return [
                Capability(
                    jti=r[0],
                    op=r[1],
                    obj=r[2],
                    subject=r[3],
                    role=Role(r[4]),
                    issued_at=r[5],
                    expires_at=r[6],
                    single_use=bool(r[7]),
                    parent=r[8],
                    revoked_at=r[9],
                    used_at=r[10],
                )
                for r in rows
            ]

        return await self._db.read(q)
