"""Swarm events folded together for the GUI, a few times a second.

The coordinator publishes one :class:`~chimera_engine.swarm.events.TaskChanged`
per state change of every task (thousands per second under load) and one
:class:`~chimera_engine.swarm.events.AgentChanged` per agent change.
:class:`SwarmFeed` keeps only the latest of each per task and per agent and
hands out one :class:`SwarmDigest` at most every ``interval`` seconds, so the
Swarm panel redraws a few times a second whatever the load.

Threading: use it on the event loop's thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.shared.throttle import Throttle
from chimera_engine.events import Event
from chimera_engine.swarm.events import AgentChanged, ConsensusDecided, TaskChanged, TaskQuarantined
from chimera_engine.swarm.models import AgentInfo

#: The swarm events the feed folds (the bridge subscribes to these).
SWARM_EVENTS: tuple[type[Event], ...] = (
    AgentChanged,
    TaskChanged,
    ConsensusDecided,
    TaskQuarantined,
)
#: At most this many digests per second.
DIGESTS_PER_SECOND = 4.0


@dataclass(frozen=True, kw_only=True)
class SwarmDigest:
    """What changed since the previous digest: the latest snapshot and change of each
    agent, the latest state of each task, consensus outcomes (``Outcome.to_json()`` plus
    ballots) by task, and quarantined tasks. ``events`` counts what was folded in."""

    agents: Mapping[str, tuple[AgentInfo, str]] = field(default_factory=dict)
    tasks: Mapping[str, TaskChanged] = field(default_factory=dict)
    decided: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    quarantined: tuple[TaskQuarantined, ...] = ()
    events: int = 0

    def graphs(self) -> set[str]:
        """The graphs some of whose tasks changed."""
        return {t.graph_id for t in self.tasks.values() if t.graph_id}


class SwarmFeed:
    """Folds swarm events and emits a :class:`SwarmDigest` at most every ``interval`` s.

    The first event after a quiet spell is reported within ``interval``; :meth:`flush`
    emits what is pending at once; :meth:`close` drops it.
    """

    def __init__(
        self,
        emit: Callable[[SwarmDigest], object],
        *,
        interval: float = 1.0 / DIGESTS_PER_SECOND,
    ) -> None:
        self._throttle = Throttle(self.flush, interval)
        self._emit = emit
        self._reset()
        self.digests = 0

    def _reset(self) -> None:
        self._agents: dict[str, tuple[AgentInfo, str]] = {}
        self._tasks: dict[str, TaskChanged] = {}
        self._decided: dict[str, Mapping[str, Any]] = {}
        self._quarantined: list[TaskQuarantined] = []
        self._events = 0

    @property
    def pending(self) -> int:
        """Events folded in but not reported yet."""
        return self._events

    def add(self, event: Event) -> None:
        if isinstance(event, TaskChanged):
            self._tasks[event.task_id] = event
        elif isinstance(event, AgentChanged):
            self._agents[event.agent.id] = (event.agent, event.change)
        elif isinstance(event, ConsensusDecided):
            self._decided[event.task_id] = event.outcome
        elif isinstance(event, TaskQuarantined):
            self._quarantined.append(event)
        else:
            return
        self._events += 1
        self._throttle.request()

    def flush(self) -> SwarmDigest | None:
        """Emit (and return) the pending digest now; ``None`` when nothing is pending."""
        self._throttle.cancel()
        if not self._events:
            return None
        digest = SwarmDigest(
            agents=self._agents,
            tasks=self._tasks,
            decided=self._decided,
            quarantined=tuple(self._quarantined),
            events=self._events,
        )
        self._reset()
        self._throttle.emitted()
        self.digests += 1
        self._emit(digest)
        return digest

    def close(self) -> None:
        self._throttle.cancel()
        self._reset()
