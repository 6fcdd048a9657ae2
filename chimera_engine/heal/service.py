"""HealService: the facade's metacognition operations (read-only: its decisions are its own)."""

from __future__ import annotations

from collections.abc import Callable

from chimera_engine.heal.engine import MetacognitiveEngine
from chimera_engine.heal.settings import HealSettings
from chimera_engine.heal.views import HealStatus
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal


class HealService:
    """Needs the metacognitive engine (a getter: None while healing is off), its
    settings and the guard."""

    def __init__(
        self,
        guard: Guard,
        engine: Callable[[], MetacognitiveEngine | None],
        settings: Callable[[], HealSettings],
    ) -> None:
        self._guard = guard
        self._engine = engine
        self._settings = settings

    async def status(self, principal: Principal) -> HealStatus:
        """Per tool version: health, confidence and its evidence, the open learning
        request, the back-off; and the hourly budget. Needs ``tool.read``."""
        await self._guard.allow(principal, Permission.TOOL_READ)
        heal = self._engine()
        if heal is None:
            settings = self._settings()
            return HealStatus(
                enabled=False,
                observe_only=settings.observe_only,
                requests_last_hour=0,
                max_requests_per_hour=settings.max_requests_per_hour,
                requests_made=0,
                tools=(),
            )
        return heal.status()
