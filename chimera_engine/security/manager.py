"""SecurityManager: accounts, sessions, permission checks and the audit log, composed.

Every refusal of a security significance (failed login, bad token, missing
permission) is written to the audit log with outcome ``denied``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chimera_engine.audit.log import AuditLog
from chimera_engine.config import AuditSettings, RateLimitSettings, SecuritySettings
from chimera_engine.errors import AuthenticationError, PermissionDeniedError
from chimera_engine.events import EventBus, UserChanged
from chimera_engine.security.accounts import AccountService
from chimera_engine.security.apikeys import APIKeyStore
from chimera_engine.security.capabilities import CapabilityService, covers
from chimera_engine.security.passwords import PasswordHasher
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.ratelimit import ClientRateLimiter, RateLimit
from chimera_engine.security.secrets import derive_key
from chimera_engine.security.throttle import LockoutPolicy, LoginThrottle
from chimera_engine.security.tokens import JWTManager, RevocationList, TokenPair
from chimera_engine.store.db import Database
from chimera_engine.store.records import UserRecord
from chimera_engine.store.users import UserRepository

log = logging.getLogger(__name__)

USER_POLL_S = 0.4
#: The users version is read at least this often even when the database files look
#: unchanged (a file system with coarse timestamps could hide a same-size rewrite).
USER_RECHECK_S = 10.0
_ACCOUNT_CHANGED = (
    "the account changed since this token was issued (password changed, role changed "
    "or account disabled); log in again"
)


@dataclass(frozen=True, kw_only=True)
class Session:
    """A logged-in user: who they are and the tokens that prove it."""

    principal: Principal
    tokens: TokenPair
    user: UserRecord


class SecurityManager:
    def __init__(
        self,
        db: Database,
        secret: bytes,
        bus: EventBus,
        settings: SecuritySettings,
        audit_settings: AuditSettings,
        rate_settings: RateLimitSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._db = db
        self.audit = AuditLog(
            db,
            derive_key(secret, "audit"),
            bus,
            ring_size=audit_settings.ring_size,
            clock=clock,
            checkpoint_key=derive_key(secret, "audit-checkpoint"),
            export_path=Path(audit_settings.export_path) if audit_settings.export_path else None,
        )
        self.revocations = RevocationList(db, clock)
        self.jwt = JWTManager(
            derive_key(secret, "jwt"),
            self.revocations,
            issuer=settings.issuer,
            audience=settings.audience,
            access_ttl=settings.access_token_ttl,
            refresh_ttl=settings.refresh_token_ttl,
            clock=clock,
        )
        self.accounts = AccountService(
            UserRepository(db),
            PasswordHasher(
                memory_kib=settings.argon2_memory_kib,
                time_cost=settings.argon2_time_cost,
                parallelism=settings.argon2_parallelism,
            ),
            LoginThrottle(
                db,
                LockoutPolicy(
                    threshold=settings.lockout_threshold,
                    base=settings.lockout_base_seconds,
                    maximum=settings.lockout_max_seconds,
                ),
                clock,
            ),
            clock,
        )
        self.api_keys = APIKeyStore(db, derive_key(secret, "apikey"), clock)
        self.capabilities = CapabilityService(
            derive_key(secret, "capability"),
            self.revocations,
            db,
            issuer=settings.issuer,
            clock=clock,
            issuer_valid=self._issuer_valid,
        )
        self.rate_limiter = make_rate_limiter(rate_settings or RateLimitSettings())
        self._users: dict[int, UserRecord] = {}
        self._users_version = -1
        #: Reads of the users version by :meth:`watch_users` so far.
        self.user_reads = 0

    async def load(self) -> None:
        await self.api_keys.load()
        await self.revocations.load()
        await self.audit.load()
        await self.reload_users()

    async def reload_users(self) -> bool:
        """Take in user changes made by any process sharing the database.

        Cheap when nothing changed (one read of the users version); otherwise the
        users are re-read and each changed or deleted one is published as
        :class:`UserChanged`, which ends its sessions and subscriptions here.
        Returns whether anything changed."""
        repo = self.accounts.users
        version = await repo.version()
        if version == self._users_version:
            return False
        fresh = {u.id: u for u in await repo.list()}
        first = self._users_version < 0
        if not first:
            await self.api_keys.load()  # a key revoked elsewhere is refused here too
        self._users_version = version
        old, self._users = self._users, fresh
        if first:
            return True
        for uid, user in fresh.items():
            before = old.get(uid)
            if before is None or before.session_epoch != user.session_epoch:
                self._bus.publish(UserChanged(user=user, change="changed"))
        for uid, user in old.items():
            if uid not in fresh:
                self._bus.publish(UserChanged(user=user, change="deleted"))
        await self.revocations.refresh()
        return True

    async def watch_users(
        self, interval: float = USER_POLL_S, recheck: float = USER_RECHECK_S
    ) -> None:
        """Poll for user changes made elsewhere (the CLI, another engine) until cancelled.

        A tick first compares the database files' :meth:`~Database.change_stamp` (a stat,
        on the loop): while nothing committed, nothing is read. The users version is
        read when the files changed, and every ``recheck`` seconds in any case."""
        loop = asyncio.get_running_loop()
        seen: object = None
        checked = -math.inf
        while True:
            await asyncio.sleep(interval)
            stamp = self._db.change_stamp()
            if stamp == seen and loop.time() - checked < recheck:
                continue
            self.user_reads += 1
            try:
                await self.reload_users()
            except Exception as exc:  # a busy database is retried at the next tick
                log.warning("cannot re-read users: %s", exc)
            else:
                # The stamp from before the read: a commit meanwhile is read next tick.
                seen, checked = stamp, loop.time()

    # -- sessions ---------------------------------------------------------------------
    async def needs_first_admin(self) -> bool:
        """True until the first user exists: the console then asks for an administrator."""
        return await self.accounts.users.count() == 0

    async def create_first_admin(self, username: str, password: str) -> Session:
        """Create the first administrator (only while no user exists) and log them in."""
        try:
            user = await self.accounts.create(username, password, Role.ADMIN, first_admin=True)
        except Exception as exc:
            await self.audit.record(
                None,
                "user.create_first_admin",
                target=username,
                outcome="denied",
                actor=username or "anonymous",
                reason=str(exc),
            )
            raise
        self._remember(user, "created")
        await self.audit.record(
            None, "user.create_first_admin", target=user.username, actor=user.username, role="admin"
        )
        return await self.login(username, password)

    async def login(self, username: str, password: str, *, client: str = "console") -> Session:
        try:
            user = await self.accounts.authenticate(username, password, source=client)
        except AuthenticationError as exc:
            await self.audit.record(
                None,
                "auth.login",
                target=username,
                outcome="denied",
                actor=username or "anonymous",
                reason=str(exc),
                client=client,
            )
            raise
        self._remember(user, "login")
        tokens = self.jwt.issue(user.id, user.username, Role(user.role), epoch=user.session_epoch)
        principal = self.principal_from_token(tokens.access_token)
        await self.audit.record(principal, "auth.login", target=user.username, client=client)
        return Session(principal=principal, tokens=tokens, user=user)

    def principal_from_token(self, token: str) -> Principal:
        """Verify an access token and return who it speaks for (pure CPU, no audit)."""
        claims = self.jwt.verify(token, expected_type="access")
        user = self._users.get(claims.user_id)
        if user is None or user.disabled:
            raise AuthenticationError("account is disabled or no longer exists")
        if user.role != claims.role.value:
            raise AuthenticationError("role changed since this token was issued; log in again")
        if _older_than_password(claims.issued_at, user):
            raise AuthenticationError("the password changed since this token was issued")
        if claims.epoch != user.session_epoch:
            raise AuthenticationError(_ACCOUNT_CHANGED)
        return Principal(
            user_id=user.id,
            name=user.username,
            role=claims.role,
            via="token",
            token_id=claims.jti,
            expires_at=claims.expires_at,
            issued_at=claims.issued_at,
            session_epoch=claims.epoch,
            session_family=claims.family,
        )

    async def authenticate_token(self, token: str, *, client: str = "") -> Principal:
        """As :meth:`principal_from_token`, auditing a refusal as a security event."""
        try:
            return self.principal_from_token(token)
        except AuthenticationError as exc:
            await self.audit.record(
                None, "auth.token", outcome="denied", reason=str(exc), client=client
            )
            raise

    async def refresh(self, refresh_token: str) -> Session:
        """Rotate a refresh token: the old one is revoked, a new pair issued."""
        try:
            claims = self.jwt.verify(refresh_token, expected_type="refresh", check_revoked=False)
            if self.revocations.reason(claims.jti) == "rotated" and claims.family:
                # a rotated token came back: someone holds a copy; end the whole family
                await self.revocations.revoke(
                    f"family:{claims.family}", claims.expires_at, "refresh token reused"
                )
                raise AuthenticationError(
                    "refresh token was revoked when it was used; its reuse ends every "
                    "session of this login"
                )
            claims = self.jwt.verify(refresh_token, expected_type="refresh")
            user = self._users.get(claims.user_id)
            if user is None or user.disabled or user.role != claims.role.value:
                raise AuthenticationError("account changed since this token was issued")
            if _older_than_password(claims.issued_at, user):
                raise AuthenticationError("the password changed since this token was issued")
            if claims.epoch != user.session_epoch:
                raise AuthenticationError(_ACCOUNT_CHANGED)
        except AuthenticationError as exc:
            await self.audit.record(None, "auth.refresh", outcome="denied", reason=str(exc))
            raise
        await self.revocations.revoke(claims.jti, claims.expires_at, "rotated")
        tokens = self.jwt.issue(
            user.id,
            user.username,
            Role(user.role),
            epoch=user.session_epoch,
            family=claims.family,
        )
        principal = self.principal_from_token(tokens.access_token)
        await self.audit.record(principal, "auth.refresh", target=user.username)
        return Session(principal=principal, tokens=tokens, user=user)

    async def logout(self, principal: Principal, refresh_token: str | None = None) -> None:
        """Revoke the session's tokens; they are refused from now on."""
        if principal.token_id and principal.expires_at:
            await self.revocations.revoke(principal.token_id, principal.expires_at, "logout")
        if principal.session_family:
            # the session's refresh token ends with it, sent in the body or not
            horizon = self._clock() + self.jwt.refresh_ttl + 60
            await self.revocations.revoke(f"family:{principal.session_family}", horizon, "logout")
        if refresh_token:
            try:
                claims = self.jwt.verify(refresh_token, expected_type="refresh")
                await self.revocations.revoke(claims.jti, claims.expires_at, "logout")
            except AuthenticationError:
                pass
        await self.audit.record(principal, "auth.logout", target=principal.name)

    # -- authorisation -------------------------------------------------------------------
    def check_session(self, principal: Principal) -> None:
        """A credential must still be valid: not expired, revoked or changed."""
        if principal.via == "api_key":
            key = self.api_keys.by_prefix(principal.token_id or "")
            if key is None or key.state(self._clock()) != "active":
                raise AuthenticationError("API key is no longer valid")
            return
        if principal.via == "capability":
            if principal.expires_at is not None and principal.expires_at < self._clock():
                raise AuthenticationError("capability has expired")
            family = principal.session_family or ""
            key_prefix = family[4:] if family.startswith("key:") else None
            if (principal.user_id is not None or key_prefix) and not self._issuer_valid(
                principal.user_id, principal.session_epoch or 0, key_prefix
            ):
                raise AuthenticationError("the user who granted this capability has changed")
            return
        if principal.via not in ("token", "password"):
            return
        if principal.expires_at is not None and principal.expires_at < self._clock():
            raise AuthenticationError("session has expired; log in again")
        if principal.token_id and self.revocations.is_revoked(principal.token_id):
            raise AuthenticationError("session has been ended; log in again")
        if principal.session_family and self.revocations.family_revoked(principal.session_family):
            raise AuthenticationError("session has been ended; log in again")
        user = self._users.get(principal.user_id or -1)
        if user is None or user.disabled or user.role != principal.role.value:
            raise AuthenticationError("account changed; log in again")
        if principal.session_epoch is not None and principal.session_epoch != user.session_epoch:
            raise AuthenticationError(_ACCOUNT_CHANGED)
        if principal.issued_at is not None and _older_than_password(principal.issued_at, user):
            raise AuthenticationError("the password changed; log in again")

    async def authorize(
        self, principal: Principal, permission: Permission, target: str = ""
    ) -> None:
        """Raise unless ``principal`` may do ``permission``; refusals are audited."""
        try:
            self.check_session(principal)
        except AuthenticationError as exc:
            await self.audit.record(
                principal, str(permission), target=target, outcome="denied", reason=str(exc)
            )
            raise
        if principal.target is not None and not covers(principal.target, target):
            await self.audit.record(
                principal,
                str(permission),
                target=target,
                outcome="denied",
                reason=f"capability is limited to {principal.target}",
            )
            raise PermissionDeniedError(f"this capability only covers {principal.target}")
        if not principal.can(permission):
            await self.audit.record(
                principal,
                str(permission),
                target=target,
                outcome="denied",
                reason=f"role {principal.role.value} lacks {permission.value}",
            )
            raise PermissionDeniedError(
                f"{principal.name} ({principal.role.value}) is not allowed to {permission.value}"
            )

    def _issuer_valid(self, user_id: int | None, epoch: int, key_prefix: str | None) -> bool:
        if key_prefix is not None:
            key = self.api_keys.by_prefix(key_prefix)
            return key is not None and key.state(self._clock()) == "active"
        user = self._users.get(user_id if user_id is not None else -1)
        return user is not None and not user.disabled and user.session_epoch == epoch

    # -- user cache ------------------------------------------------------------------------
    def _remember(self, user: UserRecord, change: str) -> None:
        self._users[user.id] = user
        self._bus.publish(UserChanged(user=user, change=change))

    def remember(self, user: UserRecord, change: str) -> None:
        """Record a changed user so token checks see it at once."""
        self._remember(user, change)

    def forget(self, user: UserRecord) -> None:
        """Drop a deleted user: its tokens are refused from now on."""
        self._users.pop(user.id, None)
        self._bus.publish(UserChanged(user=user, change="deleted"))

    def cached_users(self) -> list[UserRecord]:
        return sorted(self._users.values(), key=lambda u: u.username.lower())


def _older_than_password(issued_at: float, user: UserRecord) -> bool:
    """Tokens carry whole seconds: one from before the change's second is stale."""
    changed = user.password_changed_at
    return changed is not None and int(issued_at) < int(changed) and changed > user.created_at


def make_rate_limiter(settings: RateLimitSettings) -> ClientRateLimiter:
    """Route classes: ``read``, ``write``, ``llm`` and ``login`` (per client)."""

    def limit(per_minute: int, least: int = 1) -> RateLimit:
        burst = max(least, int(per_minute * settings.burst_fraction))
        return RateLimit(per_minute / 60.0, burst)

    return ClientRateLimiter(
        {
            "read": limit(settings.read_per_minute),
            "write": limit(settings.write_per_minute),
            "llm": limit(settings.llm_per_minute),
            "login": limit(settings.login_per_minute, least=5),
            # failed credentials of any kind, per source, counted before authentication
            "auth_failure": limit(settings.login_per_minute, least=5),
        },
        default=limit(settings.read_per_minute),
        max_buckets=settings.max_clients,
    )
