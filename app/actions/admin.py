"""Administration actions: users, API keys, capability tokens, rate limits."""

from __future__ import annotations

from collections.abc import Iterable

from app.actions.base import Acting
from chimera_engine.security.admin_service import UserChange
from chimera_engine.security.apikeys import APIKey
from chimera_engine.security.capabilities import Capability
from chimera_engine.security.ratelimit import BucketStatus
from chimera_engine.security.throttle import Throttle
from chimera_engine.store.records import UserRecord


class AdminActions(Acting):
    # -- users -----------------------------------------------------------------------------
    async def list_users(self) -> list[UserRecord]:
        return await self.facade.admin.list_users(self.principal)

    async def create_user(self, username: str, password: str, role: str) -> UserChange:
        return await self.facade.admin.create_user(self.principal, username, password, role)

    async def set_user_role(self, username: str, role: str) -> UserChange:
        return await self.facade.admin.set_user_role(self.principal, username, role)

    async def set_user_disabled(self, username: str, disabled: bool) -> UserChange:
        return await self.facade.admin.set_user_disabled(self.principal, username, disabled)

    async def reset_password(self, username: str, password: str) -> UserChange:
        return await self.facade.admin.reset_password(self.principal, username, password)

    # -- API keys --------------------------------------------------------------------------
    async def list_api_keys(self) -> list[APIKey]:
        return await self.facade.admin.list_api_keys(self.principal)

    async def create_api_key(
        self,
        *,
        name: str,
        role: str,
        scopes: Iterable[str] = (),
        expires_at: float | None = None,
        rate_limit: int | None = None,
    ) -> tuple[str, APIKey]:
        """The plaintext key (show it once, never store it) and its record."""
        return await self.facade.admin.create_api_key(
            self.principal,
            name=name,
            role=role,
            scopes=scopes,
            expires_at=expires_at,
            rate_limit=rate_limit,
        )

    async def revoke_api_key(self, key_id: int) -> APIKey:
        return await self.facade.admin.revoke_api_key(self.principal, key_id)

    # -- capabilities and rate limits ------------------------------------------------------
    async def capabilities_in_force(self) -> list[Capability]:
        return await self.facade.admin.capabilities_in_force(self.principal)

    async def revoke_capability(self, jti: str) -> str:
        """Revoke capability ``jti``; returns it."""
        await self.facade.admin.revoke_capability(self.principal, jti)
        return jti

    async def rate_limit_status(self) -> list[BucketStatus]:
        return await self.facade.admin.rate_limit_status(self.principal)

    async def login_throttles(self) -> list[Throttle]:
        return await self.facade.admin.login_throttles(self.principal)

    async def clear_login_throttle(self, account: str, source: str) -> int:
        return await self.facade.admin.clear_login_throttle(self.principal, account, source)
