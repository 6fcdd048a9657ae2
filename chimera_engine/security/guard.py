"""Guard: the permission check and the audit record at a service's edge.

Each feature service holds one; it reaches the security state through a getter,
since that state is loaded when the engine starts, after the services are built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chimera_engine.security.manager import SecurityManager
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal


class Guard:
    def __init__(self, security: Callable[[], SecurityManager]) -> None:
        self._security = security

    async def allow(self, principal: Principal, permission: Permission, target: str = "") -> None:
        """Raise unless ``principal`` may do ``permission`` on ``target`` (refusals audited)."""
        await self._security().authorize(principal, permission, target)

    async def record(self, principal: Principal | None, action: str, **fields: Any) -> None:
        """Write one audit entry (``target``, ``outcome``, ``actor`` and details)."""
        await self._security().audit.record(principal, action, **fields)
