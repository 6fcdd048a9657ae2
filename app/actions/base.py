"""The two things every action needs: the engine and the signed-in user."""

from __future__ import annotations

from chimera_engine.facade import EngineFacade
from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal


class Acting:
    """Base of the action mixins; :class:`app.bridge.EngineBridge` provides both members."""

    node: HeartNode

    @property
    def principal(self) -> Principal:
        raise NotImplementedError

    @property
    def facade(self) -> EngineFacade:
        return self.node.facade
