"""SessionsService: sign-in, token refresh, sign-out and the first administrator.

These come before any principal exists, so there is no permission to check; the
security manager audits each of them itself.
"""

from __future__ import annotations

from collections.abc import Callable

from chimera_engine.security.manager import SecurityManager, Session
from chimera_engine.security.principal import Principal


class SessionsService:
    """Needs the security manager (a getter: it is loaded when the engine starts)."""

    def __init__(self, security: Callable[[], SecurityManager]) -> None:
        self._security = security

    async def needs_first_admin(self) -> bool:
        return await self._security().needs_first_admin()

    async def create_first_admin(self, username: str, password: str) -> Session:
        return await self._security().create_first_admin(username, password)

    async def login(self, username: str, password: str, *, client: str = "console") -> Session:
        return await self._security().login(username, password, client=client)

    async def refresh(self, refresh_token: str) -> Session:
        return await self._security().refresh(refresh_token)

    async def logout(self, principal: Principal, refresh_token: str | None = None) -> None:
        await self._security().logout(principal, refresh_token)
