"""Short-lived JWT sessions (HS256 only) with refresh rotation and revocation by ``jti``.

Checks on every token: the algorithm allow-list (``none`` and every other
algorithm refused), signature, ``exp``, ``iat``, ``nbf``, ``aud``, ``iss``,
``typ`` (``access`` or ``refresh``), presence of ``sub``/``jti``/``role``, and
that the ``jti`` is not revoked.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from chimera_engine.errors import AuthenticationError
from chimera_engine.security.permissions import Role
from chimera_engine.store.db import Database

ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "nbf", "aud", "iss", "sub", "jti", "typ"]
_LEEWAY_S = 5
#: Tokens whose signature and claims were verified, kept so a token presented again
#: (every request of a session) skips the decode; expiry is checked again on each use.
_VERIFIED_CACHE = 4096


@dataclass(frozen=True, kw_only=True)
class Claims:
    subject: str
    user_id: int
    role: Role
    token_type: str
    jti: str
    issued_at: float
    expires_at: float
    epoch: int = 0
    family: str = ""


@dataclass(frozen=True, kw_only=True)
class TokenPair:
    """The OAuth2 token-response shape: ``token_type`` is always ``Bearer``."""

    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }


class RevocationList:
    """Revoked ``jti`` values, in memory for speed and in SQLite for restarts."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._revoked: dict[str, float] = {}
        self._reasons: dict[str, str] = {}

    async def load(self) -> None:
        now = self._clock()

        def purge(conn: sqlite3.Connection) -> list[tuple[str, float, str]]:
            conn.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (now,))
            return [
                (r[0], r[1], r[2])
                for r in conn.execute("SELECT jti, expires_at, reason FROM revoked_tokens")
            ]

        rows = await self._db.write(purge)
        self._revoked = {jti: exp for jti, exp, _ in rows}
        self._reasons = {jti: reason for jti, _, reason in rows}

    async def refresh(self) -> None:
        """Take in revocations written by other processes sharing the database."""

        def q(conn: sqlite3.Connection) -> list[tuple[str, float, str]]:
            return [
                (r[0], r[1], r[2])
                for r in conn.execute("SELECT jti, expires_at, reason FROM revoked_tokens")
            ]

        for jti, exp, reason in await self._db.read(q):
            self._revoked.setdefault(jti, exp)
            self._reasons.setdefault(jti, reason)

    def reason(self, jti: str) -> str | None:
        """Why ``jti`` was revoked, or None when it was not."""
        return self._reasons.get(jti) if jti in self._revoked else None

    def family_revoked(self, family: str) -> bool:
        return bool(family) and f"family:{family}" in self._revoked

    def is_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    async def revoke(self, jti: str, expires_at: float, reason: str) -> None:
        self._revoked[jti] = expires_at
        self._reasons[jti] = reason

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO revoked_tokens(jti, expires_at, reason) VALUES (?, ?, ?)",
                (jti, expires_at, reason),
            )

        await self._db.write(insert)

    def __len__(self) -> int:
        return len(self._revoked)


class JWTManager:
    """Issues and verifies session tokens. ``verify`` is pure CPU (tens of microseconds)."""

    def __init__(
        self,
        key: bytes,
        revocations: RevocationList,
        *,
        issuer: str,
        audience: str,
        access_ttl: int,
        refresh_ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.revocations = revocations
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._clock = clock
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _encode(
        self, user_id: int, username: str, role: Role, typ: str, ttl: int, epoch: int, family: str
    ) -> str:
        now = int(self._clock())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": username,
            "uid": user_id,
            "role": role.value,
            "typ": typ,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "sep": epoch,
            "fam": family,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"typ": "JWT"})

    def issue(
        self, user_id: int, username: str, role: Role, *, epoch: int = 0, family: str = ""
    ) -> TokenPair:
        """A new access + refresh pair for the user.

        ``epoch`` is the user's session epoch (a token from an older epoch is refused);
        ``family`` names the login the pair descends from through refresh rotations
        (a new one is drawn when empty)."""
        family = family or secrets.token_urlsafe(12)
        return TokenPair(
            access_token=self._encode(
                user_id, username, role, "access", self.access_ttl, epoch, family
            ),
            refresh_token=self._encode(
                user_id, username, role, "refresh", self.refresh_ttl, epoch, family
            ),
            expires_in=self.access_ttl,
        )

    def verify(
        self, token: str, *, expected_type: str = "access", check_revoked: bool = True
    ) -> Claims:
        """Decode and check ``token``; :class:`AuthenticationError` says what is wrong."""
        if not isinstance(token, str) or not token.isascii() or token.count(".") != 2:
            raise AuthenticationError("malformed token")
        payload = self._verified.get(token)
        if payload is None:
            payload = self._decode(token)
            self._verified[token] = payload
            if len(self._verified) > _VERIFIED_CACHE:
                self._verified.popitem(last=False)
        else:
            # the signature, audience and issuer of these exact bytes were checked when
            # the token was first seen; its time window is checked again, as PyJWT does
            now = time.time()
            if float(payload["exp"]) <= now - _LEEWAY_S:
                raise AuthenticationError("token has expired")
            if float(payload["nbf"]) > now + _LEEWAY_S:
                raise AuthenticationError("token is not valid yet")
        return self._claims(payload, expected_type, check_revoked)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=_LEEWAY_S,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("token audience is wrong") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("token issuer is wrong") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("token signature is invalid") from None
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError(
                f"token algorithm {_algorithm(token)!r} is not allowed"
            ) from None
        except jwt.DecodeError:
            raise AuthenticationError("malformed token") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"token rejected: {exc}") from None
        return payload

    def _claims(self, payload: dict[str, Any], expected_type: str, check_revoked: bool) -> Claims:
        if payload.get("iat", 0) > self._clock() + _LEEWAY_S:
            raise AuthenticationError("token was issued in the future")
        if payload["typ"] != expected_type:
            raise AuthenticationError(f"a {payload['typ']} token cannot be used here")
        try:
            role = Role(str(payload["role"]))
            user_id = int(payload["uid"])
            epoch = int(payload.get("sep", 0))
        except (KeyError, TypeError, ValueError):
            raise AuthenticationError("token has no valid role or user id") from None
        family = str(payload.get("fam", ""))
        if check_revoked and (
            self.revocations.is_revoked(payload["jti"]) or self.revocations.family_revoked(family)
        ):
            raise AuthenticationError("token has been revoked")
        return Claims(
            subject=str(payload["sub"]),
            user_id=user_id,
            role=role,
            token_type=payload["typ"],
            jti=str(payload["jti"]),
            issued_at=float(payload["iat"]),
            expires_at=float(payload["exp"]),
            epoch=epoch,
            family=family,
        )


def _algorithm(token: str) -> str:
    try:
        return str(jwt.get_unverified_header(token).get("alg"))
    except jwt.PyJWTError:
        return "unknown"
