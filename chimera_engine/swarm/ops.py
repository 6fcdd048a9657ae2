"""Facade operations on the swarm, ready to mix into ``EngineFacade``.

Every method takes the acting principal and checks a named permission first
(refusals are audited by ``SecurityManager.authorize``); the coordinator audits
what it changes. Submitting tasks also needs ``tool.call`` on each tool they
run: a task is a tool call made elsewhere.

============================  ===================
operation                     permission
============================  ===================
swarm_status, swarm_agents,   ``swarm.read``
swarm_task, swarm_history,
swarm_attempts, swarm_wait,
swarm_votes
swarm_spawn, swarm_spawn_     ``swarm.spawn``
many, swarm_stop_agent
swarm_submit, swarm_submit_   ``swarm.task`` (+ ``tool.call``)
plan, swarm_submit_graph,
swarm_submit_job,
swarm_cancel
swarm_consensus               ``swarm.consensus``
============================  ===================

Agents themselves never come through here: they present node-role API keys
(``node.register`` and ``node.report``) to the coordinator directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from chimera_engine.errors import PermissionDeniedError, ValidationError
from chimera_engine.security.manager import SecurityManager
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.ballots import ConsensusRecord
from chimera_engine.swarm.consensus import Outcome, Vote
from chimera_engine.swarm.coordinator import SwarmCoordinator, SwarmStats
from chimera_engine.swarm.decomposer import Job
from chimera_engine.swarm.errors import SwarmCapacityError
from chimera_engine.swarm.graph import TaskGraph
from chimera_engine.swarm.models import (
    AgentInfo,
    AgentSpec,
    ConsensusPolicy,
    Task,
    TaskInfo,
    TaskState,
)
from chimera_engine.swarm.submission import GraphInfo

MAX_SUBMIT = 10_000
"""Most tasks one request may submit."""


class SwarmNode(Protocol):
    """What the operations need of the node (HeartNode provides both)."""

    @property
    def security(self) -> SecurityManager: ...

    @property
    def swarm(self) -> SwarmCoordinator: ...


class SwarmOps:
    """Mix into the facade next to the other ``*Ops``; needs ``self._node.swarm``."""

    if TYPE_CHECKING:

        @property
        def _node(self) -> SwarmNode: ...

    async def _swarm_allow(
        self, principal: Principal, permission: Permission, target: str = ""
    ) -> None:
        await self._node.security.authorize(principal, permission, target)

    async def _allow_tools(self, principal: Principal, tasks: Sequence[Task]) -> None:
        await self._swarm_allow(principal, Permission.SWARM_TASK)
        if len(tasks) > MAX_SUBMIT:
            raise ValidationError(f"at most {MAX_SUBMIT} tasks per request")
        prompt_tool = self._node.swarm.settings.prompt_tool
        for tool in sorted({t.tool or prompt_tool for t in tasks}):
            await self._swarm_allow(principal, Permission.TOOL_CALL, tool)

    # -- reading ---------------------------------------------------------------------------
    async def swarm_status(self, principal: Principal) -> SwarmStats:
        await self._swarm_allow(principal, Permission.SWARM_READ)
        return self._node.swarm.stats()

    async def swarm_agents(self, principal: Principal) -> list[AgentInfo]:
        await self._swarm_allow(principal, Permission.SWARM_READ)
        return self._node.swarm.agents()

    async def swarm_task(self, principal: Principal, task_id: str) -> TaskInfo:
        await self._swarm_allow(principal, Permission.SWARM_READ, task_id)
        return await self._node.swarm.task(task_id)

    async def swarm_history(
        self,
        principal: Principal,
        *,
        limit: int = 100,
        state: TaskState | None = None,
        graph_id: str | None = None,
    ) -> list[TaskInfo]:
        await self._swarm_allow(principal, Permission.SWARM_READ)
        return await self._node.swarm.history(limit=limit, state=state, graph_id=graph_id)

    async def swarm_attempts(self, principal: Principal, task_id: str) -> list[dict[str, Any]]:
        """Which agent ran each attempt of a task, with which outcome."""
        await self._swarm_allow(principal, Permission.SWARM_READ, task_id)
        return await self._node.swarm.store.attempts_of(task_id)

    async def swarm_votes(self, principal: Principal, task_id: str) -> ConsensusRecord | None:
        """How a redundant task was decided and each agent's vote (None: not decided by
        consensus, e.g. redundancy 1 or not finished yet)."""
        await self._swarm_allow(principal, Permission.SWARM_READ, task_id)
        info = await self._node.swarm.task(task_id)
        if info.consensus is None:
            return None
        return ConsensusRecord.from_outcome(info.id, info.consensus)

    # -- agents ------------------------------------------------------------------------------
    async def swarm_spawn(self, principal: Principal, spec: AgentSpec) -> AgentInfo:
        await self._swarm_allow(principal, Permission.SWARM_SPAWN, spec.role)
        return await self._node.swarm.spawn_agent(spec, principal)

    async def swarm_spawn_many(
        self, principal: Principal, spec: AgentSpec, count: int
    ) -> list[AgentInfo]:
        """Start ``count`` agents at once; refused as a whole (SwarmCapacityError) when they
        would not fit under ``swarm.max_agents``. A start failure raises after the others
        are up (they stay)."""
        await self._swarm_allow(principal, Permission.SWARM_SPAWN, spec.role)
        spec.validate()
        swarm = self._node.swarm
        live = sum(1 for a in swarm.agents() if not a.state.final)
        limit = swarm.settings.max_agents
        if count < 1 or live + count > limit:
            raise SwarmCapacityError(
                f"cannot start {count} agents: {live} of swarm.max_agents={limit} are running"
            )
        results = await asyncio.gather(
            *(swarm.spawn_agent(spec, principal) for _ in range(count)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, AgentInfo)]

    async def swarm_stop_agent(
        self, principal: Principal, agent_id: str, *, kill: bool = False
    ) -> AgentInfo:
        await self._swarm_allow(principal, Permission.SWARM_SPAWN, agent_id)
        return await self._node.swarm.stop_agent(agent_id, principal, kill=kill)

    # -- tasks -------------------------------------------------------------------------------
    async def swarm_submit(self, principal: Principal, tasks: Sequence[Task]) -> list[TaskInfo]:
        await self._allow_tools(principal, tasks)
        return await self._node.swarm.submit_many(tasks, principal)

    async def swarm_submit_plan(
        self, principal: Principal, plan: Sequence[Mapping[str, Any]]
    ) -> GraphInfo:
        """Submit an explicit task graph given as plain step dicts (an API request body)."""
        graph = TaskGraph.from_plan(plan)
        await self._allow_tools(principal, list(graph.tasks.values()))
        return await self._node.swarm.submit_graph(graph, principal)

    async def swarm_submit_graph(self, principal: Principal, graph: TaskGraph) -> GraphInfo:
        """Submit a task graph built by the caller (e.g. the IntentCompiler)."""
        await self._allow_tools(principal, list(graph.tasks.values()))
        return await self._node.swarm.submit_graph(graph, principal)

    async def swarm_submit_job(self, principal: Principal, job: Job) -> GraphInfo:
        """Decompose a complex job (rules, or the planner for prompts) and submit it."""
        graph = await self._node.swarm.decomposer.decompose(job)
        await self._allow_tools(principal, list(graph.tasks.values()))
        return await self._node.swarm.submit_graph(graph, principal)

    async def swarm_wait(
        self, principal: Principal, task_ids: Sequence[str], timeout: float
    ) -> list[TaskInfo]:
        """The tasks' snapshots once all are final, or as they are after ``timeout`` seconds."""
        await self._swarm_allow(principal, Permission.SWARM_READ)
        swarm = self._node.swarm
        if task_ids and timeout > 0:
            waits = asyncio.gather(*(swarm.wait(t) for t in task_ids))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waits, timeout)
        return [await swarm.task(t) for t in task_ids]

    async def swarm_cancel(self, principal: Principal, task_id: str) -> TaskInfo:
        await self._swarm_allow(principal, Permission.SWARM_TASK, task_id)
        owner = self._node.swarm.owner(task_id)
        if owner and owner != principal.actor and principal.role is not Role.ADMIN:
            await self._node.security.audit.record(
                principal,
                "swarm.cancel",
                target=task_id,
                outcome="denied",
                reason=f"task belongs to {owner}",
            )
            raise PermissionDeniedError("only the task's owner or an administrator may cancel it")
        return await self._node.swarm.cancel(task_id, principal)

    # -- consensus ---------------------------------------------------------------------------
    async def swarm_consensus(
        self,
        principal: Principal,
        votes: Sequence[Vote],
        policy: ConsensusPolicy,
        *,
        expected: int | None = None,
        subject: str = "",
    ) -> Outcome:
        await self._swarm_allow(principal, Permission.SWARM_CONSENSUS, subject)
        return await self._node.swarm.decide(
            votes, policy, principal, expected=expected, subject=subject
        )
