"""AdminService: user accounts, API keys, capability tokens, rate-limit status and
login throttles."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from chimera_engine.errors import ChimeraError, ValidationError
from chimera_engine.security.apikeys import APIKey
from chimera_engine.security.capabilities import Capability
from chimera_engine.security.guard import Guard
from chimera_engine.security.manager import SecurityManager
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.ratelimit import BucketStatus
from chimera_engine.security.throttle import Throttle
from chimera_engine.store.records import UserRecord


@dataclass(frozen=True, kw_only=True)
class UserChange:
    """What a user-management command changed."""

    user: UserRecord
    change: str


class AdminService:
    """Needs the security manager (a getter: it is loaded when the engine starts) and
    the guard."""

    def __init__(self, guard: Guard, security: Callable[[], SecurityManager]) -> None:
        self._guard = guard
        self._security = security

    # -- users ----------------------------------------------------------------------------
    async def list_users(self, principal: Principal) -> list[UserRecord]:
        await self._guard.allow(principal, Permission.USER_READ)
        return await self._security().accounts.users.list()

    async def create_user(
        self, principal: Principal, username: str, password: str, role: Role | str
    ) -> UserChange:
        security = self._security()
        await self._guard.allow(principal, Permission.USER_MANAGE, target=username)
        try:
            user = await security.accounts.create(username, password, role)
        except ChimeraError as exc:
            await self._guard.record(
                principal, "user.create", target=username, outcome="error", reason=str(exc)
            )
            raise
        security.remember(user, "created")
        await self._guard.record(principal, "user.create", target=user.username, role=user.role)
        return UserChange(user=user, change="created")

    async def set_user_role(
        self, principal: Principal, username: str, role: Role | str
    ) -> UserChange:
        security = self._security()
        await self._guard.allow(principal, Permission.USER_MANAGE, target=username)
        _refuse_self_demotion(principal, username, role)
        user = await security.accounts.set_role(username, role)
        security.remember(user, "role")
        await self._guard.record(principal, "user.set_role", target=user.username, role=user.role)
        return UserChange(user=user, change="role")

    async def set_user_disabled(
        self, principal: Principal, username: str, disabled: bool
    ) -> UserChange:
        security = self._security()
        await self._guard.allow(principal, Permission.USER_MANAGE, target=username)
        if disabled and username.lower() == principal.name.lower():
            raise ValidationError("you cannot disable your own account")
        user = await security.accounts.set_disabled(username, disabled)
        security.remember(user, "disabled" if disabled else "enabled")
        await self._guard.record(
            principal, "user.disable" if disabled else "user.enable", target=user.username
        )
        return UserChange(user=user, change="disabled" if disabled else "enabled")

    async def reset_password(
        self, principal: Principal, username: str, password: str
    ) -> UserChange:
        security = self._security()
        await self._guard.allow(principal, Permission.USER_MANAGE, target=username)
        user = await security.accounts.set_password(username, password)
        security.remember(user, "password")
        await self._guard.record(principal, "user.reset_password", target=user.username)
        return UserChange(user=user, change="password")

    # -- credentials ----------------------------------------------------------------------

    async def create_api_key(
        self,
        principal: Principal,
        *,
        name: str,
        role: Role | str,
        scopes: Iterable[str] = (),
        expires_at: float | None = None,
        rate_limit: int | None = None,
    ) -> tuple[str, APIKey]:
        """A new key: the plaintext is returned once and never stored or audited."""
        security = self._security()
        await self._guard.allow(principal, Permission.APIKEY_MANAGE, name)
        plaintext, key = await security.api_keys.create(
            name=name,
            role=role,
            scopes=scopes,
            expires_at=expires_at,
            rate_limit=rate_limit,
            created_by=principal.actor,
        )
        await self._guard.record(
            principal,
            "apikey.create",
            target=f"key:{key.prefix}",
            name=key.name,
            role=key.role.value,
            scopes=list(key.scopes),
            expires_at=key.expires_at,
            rate_limit=key.rate_limit,
        )
        return plaintext, key

    async def list_api_keys(self, principal: Principal) -> list[APIKey]:
        await self._guard.allow(principal, Permission.APIKEY_MANAGE)
        return self._security().api_keys.list()

    async def revoke_api_key(self, principal: Principal, key_id: int) -> APIKey:
        security = self._security()
        await self._guard.allow(principal, Permission.APIKEY_MANAGE, str(key_id))
        key = await security.api_keys.revoke(key_id)
        await self._guard.record(principal, "apikey.revoke", target=f"key:{key.prefix}")
        return key

    async def issue_capability(
        self,
        principal: Principal,
        permission: Permission | str,
        obj: str,
        *,
        ttl: float = 300,
        single_use: bool = True,
    ) -> tuple[str, Capability]:
        """Grant one operation on one object; only a holder of the permission may grant it."""
        security = self._security()
        perm = Permission(permission)
        await self._guard.allow(principal, perm, obj)
        token, cap = await security.capabilities.issue(
            principal, perm, obj, ttl=ttl, single_use=single_use
        )
        await self._guard.record(
            principal,
            "capability.issue",
            target=obj,
            op=perm.value,
            jti=cap.jti,
            single_use=single_use,
            expires_at=cap.expires_at,
        )
        return token, cap

    async def attenuate_capability(
        self,
        token: str,
        *,
        obj: str | None = None,
        ttl: float | None = None,
        single_use: bool | None = None,
    ) -> tuple[str, Capability]:
        """Any holder may narrow a capability; the result is audited."""
        security = self._security()
        new_token, cap = await security.capabilities.attenuate(
            token, obj=obj, ttl=ttl, single_use=single_use
        )
        await self._guard.record(
            None,
            "capability.attenuate",
            target=cap.obj,
            actor=cap.subject,
            op=cap.op,
            jti=cap.jti,
            parent=cap.parent,
        )
        return new_token, cap

    async def capabilities_in_force(self, principal: Principal) -> list[Capability]:
        await self._guard.allow(principal, Permission.CAPABILITY_ISSUE)
        return await self._security().capabilities.in_force()

    async def revoke_capability(self, principal: Principal, jti: str) -> None:
        security = self._security()
        await self._guard.allow(principal, Permission.CAPABILITY_ISSUE, jti)
        await security.capabilities.revoke(jti)
        await self._guard.record(principal, "capability.revoke", target=jti)

    async def rate_limit_status(self, principal: Principal) -> list[BucketStatus]:
        await self._guard.allow(principal, Permission.USER_READ)
        return self._security().rate_limiter.status()

    async def login_throttles(self, principal: Principal) -> list[Throttle]:
        """(name, source) pairs whose failed logins are on record, newest first."""
        await self._guard.allow(principal, Permission.USER_READ)
        return await self._security().accounts.throttle.list()

    async def clear_login_throttle(
        self, principal: Principal, account: str, source: str = ""
    ) -> int:
        """Forget the failed logins of ``account`` (from ``source``, or everywhere)."""
        security = self._security()
        await self._guard.allow(principal, Permission.USER_MANAGE, account)
        cleared = await security.accounts.throttle.clear(account, source)
        await self._guard.record(
            principal, "auth.throttle_clear", target=account, source=source, cleared=cleared
        )
        return cleared


def _refuse_self_demotion(principal: Principal, username: str, role: Role | str) -> None:
    if username.lower() == principal.name.lower() and str(role) != Role.ADMIN.value:
        raise ValidationError("you cannot remove your own administrator role")
