"""The facade's metacognition operations (read-only: its decisions are its own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chimera_engine.heal.views import HealStatus
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    from chimera_engine.node import HeartNode


class HealOps:
    _node: HeartNode

    async def heal_status(self, principal: Principal) -> HealStatus:
        """Per tool version: health, confidence and its evidence, the open learning
        request, the back-off; and the hourly budget. Needs ``tool.read``."""
        await self._node.security.authorize(principal, Permission.TOOL_READ)
        heal = self._node.heal_engine
        if heal is None:
            settings = self._node.settings.heal
            return HealStatus(
                enabled=False,
                observe_only=settings.observe_only,
                requests_last_hour=0,
                max_requests_per_hour=settings.max_requests_per_hour,
                requests_made=0,
                tools=(),
            )
        return heal.status()
