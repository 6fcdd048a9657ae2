"""The agents: spawning within the maximum, stopping, killing, replacing the lost.

One part of :class:`~chimera_engine.swarm.coordinator.SwarmCoordinator`. Agents
that die, hang or are recycled are replaced with the same spec when
``swarm.respawn`` is on, at most ``swarm.respawn_per_minute`` times a minute
(a crash loop stops there and is logged).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque

from chimera_engine.errors import AuthenticationError
from chimera_engine.events import EventBus
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.backend import Backend
from chimera_engine.swarm.core import SYSTEM, Background, SwarmState
from chimera_engine.swarm.credentials import NodeCredentials
from chimera_engine.swarm.errors import SwarmCapacityError, SwarmNotRunningError
from chimera_engine.swarm.events import AgentChanged
from chimera_engine.swarm.models import AgentInfo, AgentSpec
from chimera_engine.swarm.settings import SwarmSettings
from chimera_engine.swarm.store import SwarmStore

log = logging.getLogger(__name__)
_AUDITED = frozenset({"died", "hung", "recycled", "refused", "killed", "joined", "unreachable"})


class AgentFleet:
    """The agents the backend runs, within ``max_agents``; replaces the lost ones. Reads
    ``state`` for whether the swarm runs and counts respawns there."""

    def __init__(
        self,
        *,
        state: SwarmState,
        settings: SwarmSettings,
        backend: Backend,
        credentials: NodeCredentials,
        store: SwarmStore,
        bus: EventBus,
        background: Background,
    ) -> None:
        self._state = state
        self.settings = settings
        self.backend = backend
        self.credentials = credentials
        self.store = store
        self.bus = bus
        self._background = background
        self._audit = background.record
        self._specs: dict[str, AgentSpec] = {}
        self._respawned: deque[float] = deque()
        self._reserved = 0

    def authenticate(self, key: str) -> Principal:
        """Check an agent's node credentials (every refusal is audited)."""
        try:
            principal = self.credentials.authenticate(key)
        except AuthenticationError as exc:
            self._audit(None, "swarm.agent.authenticate", outcome="denied", reason=str(exc))
            raise
        return principal

    async def spawn_agent(self, spec: AgentSpec, principal: Principal) -> AgentInfo:
        """Start one agent and return it once ready. SwarmCapacityError past ``max_agents``,
        AgentStartError if it does not come up."""
        spec.validate()
        if not self._state.started:
            raise SwarmNotRunningError("the swarm is not running")
        limit = self.settings.max_agents
        if self.backend.live_count() + self._reserved >= limit:
            self._audit(
                principal,
                "swarm.agent.spawn",
                target=spec.role,
                outcome="denied",
                reason=f"maximum of {limit} agents reached",
            )
            raise SwarmCapacityError(
                f"the swarm already has {self.backend.live_count() + self._reserved} agents "
                f"(swarm.max_agents is {limit})"
            )
        self._reserved += 1
        try:
            info = await self.backend.spawn(spec)
        except Exception as exc:
            self._audit(
                principal, "swarm.agent.spawn", target=spec.role, outcome="error", reason=str(exc)
            )
            raise
        finally:
            self._reserved -= 1
        self._specs[info.id] = spec
        self._audit(
            principal,
            "swarm.agent.spawn",
            target=info.id,
            role=spec.role,
            concurrency=spec.concurrency,
            pid=info.pid,
        )
        return info

    async def stop_agent(
        self, agent_id: str, principal: Principal, *, kill: bool = False
    ) -> AgentInfo:
        """Stop an agent after its running work (``kill``: at once; its work is reassigned)."""
        info = await self.backend.stop_agent(
            agent_id, kill=kill, reason=f"{'killed' if kill else 'stopped'} by {principal.actor}"
        )
        self._specs.pop(agent_id, None)
        self._audit(
            principal,
            "swarm.agent.kill" if kill else "swarm.agent.stop",
            target=agent_id,
            state=info.state.value,
        )
        return info

    def agents(self) -> list[AgentInfo]:
        return self.backend.agents()

    def on_agent(self, agent: AgentInfo, change: str) -> None:
        self.bus.publish(AgentChanged(agent=agent, change=change))
        self.store.agent(
            (
                agent.id,
                agent.role,
                json.dumps(list(agent.capabilities)),
                agent.concurrency,
                agent.backend,
                agent.host,
                agent.pid,
                agent.state.value,
                agent.reason,
                agent.started_at,
                agent.ready_at,
                time.time() if agent.state.final else None,
                agent.completed,
                agent.failed,
                agent.reputation,
            )
        )
        if change in _AUDITED:
            self._audit(
                SYSTEM,
                f"swarm.agent.{change}",
                target=agent.id,
                outcome="ok" if change in ("recycled", "killed", "joined") else "error",
                reason=agent.reason,
                pid=agent.pid,
            )
        if change in ("died", "hung", "recycled"):
            spec = self._specs.pop(agent.id, None)
            if spec is not None and self._may_respawn():
                self._background.spawn(self._respawn(spec, agent.id), f"swarm-respawn-{agent.id}")

    def _may_respawn(self) -> bool:
        if not self.settings.respawn or self._state.stopping:
            return False
        now = time.monotonic()
        while self._respawned and now - self._respawned[0] > 60.0:
            self._respawned.popleft()
        if len(self._respawned) >= self.settings.respawn_per_minute:
            log.error(
                "swarm: respawn limit (%d a minute) reached", self.settings.respawn_per_minute
            )
            return False
        self._respawned.append(now)
        return True

    async def _respawn(self, spec: AgentSpec, replaced: str) -> None:
        try:
            info = await self.spawn_agent(spec, SYSTEM)
        except Exception as exc:
            log.error("swarm: could not replace agent %s: %s", replaced, exc)
            return
        self._state.respawns += 1
        self.bus.publish(AgentChanged(agent=info, change="respawned"))
