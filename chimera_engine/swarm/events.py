"""Swarm events, published on the engine's :class:`~chimera_engine.events.EventBus`.

``TaskChanged`` is high volume (every state change of every task) and may be
coalesced for a slow subscriber; agent changes, consensus outcomes and
quarantines are never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from chimera_engine.events import Event
from chimera_engine.swarm.models import AgentInfo


@dataclass(frozen=True, kw_only=True)
class AgentChanged(Event):
    """An agent ``change``d: spawned, ready, stopping, stopped, killed, died (its process
    exited unexpectedly), hung (killed for missing heartbeats or overrunning a task),
    recycled, refused (bad credentials) or respawned."""

    agent: AgentInfo
    change: str


@dataclass(frozen=True, kw_only=True)
class TaskChanged(Event):
    """A task entered ``state``. High volume: may be coalesced."""

    droppable: ClassVar[bool] = True
    task_id: str
    state: str
    agent: str = ""
    error_code: str = ""
    graph_id: str = ""
    tool: str = ""


@dataclass(frozen=True, kw_only=True)
class ConsensusDecided(Event):
    """Redundant replicas of a task were decided (``outcome`` is Outcome.to_json() plus
    its ``ballots``, see :mod:`.ballots`)."""

    task_id: str
    outcome: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class TaskQuarantined(Event):
    """A poisoned task was set aside after ``crashes`` attempts killed or hung agents."""

    task_id: str
    crashes: int
    reason: str
