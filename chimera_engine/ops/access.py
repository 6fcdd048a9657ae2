"""Operations on credentials: API keys, capability tokens and rate-limit status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from chimera_engine.security.apikeys import APIKey
from chimera_engine.security.capabilities import Capability
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.ratelimit import BucketStatus
from chimera_engine.security.throttle import Throttle

if TYPE_CHECKING:
    from chimera_engine.node import HeartNode


class AccessOps:
    _node: HeartNode

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
        security = self._node.security
        await security.authorize(principal, Permission.APIKEY_MANAGE, name)
        plaintext, key = await security.api_keys.create(
            name=name,
            role=role,
            scopes=scopes,
            expires_at=expires_at,
            rate_limit=rate_limit,
            created_by=principal.actor,
        )
        await security.audit.record(
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
        await self._node.security.authorize(principal, Permission.APIKEY_MANAGE)
        return self._node.security.api_keys.list()

    async def revoke_api_key(self, principal: Principal, key_id: int) -> APIKey:
        security = self._node.security
        await security.authorize(principal, Permission.APIKEY_MANAGE, str(key_id))
        key = await security.api_keys.revoke(key_id)
        await security.audit.record(principal, "apikey.revoke", target=f"key:{key.prefix}")
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
        security = self._node.security
        perm = Permission(permission)
        await security.authorize(principal, perm, obj)
        token, cap = await security.capabilities.issue(
            principal, perm, obj, ttl=ttl, single_use=single_use
        )
        await security.audit.record(
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
        security = self._node.security
        new_token, cap = await security.capabilities.attenuate(
            token, obj=obj, ttl=ttl, single_use=single_use
        )
        await security.audit.record(
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
        await self._node.security.authorize(principal, Permission.CAPABILITY_ISSUE)
        return await self._node.security.capabilities.in_force()

    async def revoke_capability(self, principal: Principal, jti: str) -> None:
        security = self._node.security
        await security.authorize(principal, Permission.CAPABILITY_ISSUE, jti)
        await security.capabilities.revoke(jti)
        await security.audit.record(principal, "capability.revoke", target=jti)

    async def rate_limit_status(self, principal: Principal) -> list[BucketStatus]:
        await self._node.security.authorize(principal, Permission.USER_READ)
        return self._node.security.rate_limiter.status()

    async def login_throttles(self, principal: Principal) -> list[Throttle]:
        """(name, source) pairs whose failed logins are on record, newest first."""
        await self._node.security.authorize(principal, Permission.USER_READ)
        return await self._node.security.accounts.throttle.list()

    async def clear_login_throttle(
        self, principal: Principal, account: str, source: str = ""
    ) -> int:
        """Forget the failed logins of ``account`` (from ``source``, or everywhere)."""
        security = self._node.security
        await security.authorize(principal, Permission.USER_MANAGE, account)
        cleared = await security.accounts.throttle.clear(account, source)
        await security.audit.record(
            principal, "auth.throttle_clear", target=account, source=source, cleared=cleared
        )
        return cleared
