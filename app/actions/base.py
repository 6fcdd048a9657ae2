"""The two things every action needs: the engine and the signed-in user."""

from __future__ import annotations

from abc import ABC, abstractmethod

from chimera_engine.facade import EngineFacade
from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal


class Acting(ABC):
    """Base of the action mixins; :class:`app.bridge.EngineBridge` provides both members.

    A Qt class mixing these in needs ``metaclass=app.qtabc.QABCMeta``.
    """

    node: HeartNode

    @property
    @abstractmethod
    def principal(self) -> Principal:
        """The signed-in user the actions act as (raises if nobody is signed in)."""

    @property
    def facade(self) -> EngineFacade:
        return self.node.facade
