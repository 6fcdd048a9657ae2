"""SwarmService: the facade's operations on the swarm.

Every method takes the acting principal and checks a named permission first
(refusals are audited by the guard); the coordinator audits
what it changes. Submitting tasks also needs ``tool.call`` on each tool they
run: a task is a tool call made elsewhere.

============================  ===================
operation                     permission
============================  ===================
status, agents, task,         ``swarm.read``
history, attempts, wait,
votes
spawn, spawn_many,            ``swarm.spawn``
stop_agent
submit, submit_plan,          ``swarm.task`` (+ ``tool.call``)
submit_graph, submit_job,
cancel
consensus                     ``swarm.consensus``
============================  ===================

Agents themselves never come through here: they present node-role API keys
(``node.register`` and ``node.report``) to the coordinator directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chimera_engine.errors import PermissionDeniedError, ValidationError
from chimera_engine.security.guard import Guard
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


class SwarmService:
    """Needs the coordinator (a getter: it raises ``SwarmNotRunningError`` while the
    swarm is off) and the guard."""

    def __init__(self, guard: Guard, swarm: Callable[[], SwarmCoordinator]) -> None:
        self._guard = guard
        self._swarm = swarm

    async def _allow(self, principal: Principal, permission: Permission, target: str = "") -> None:
        await self._guard.allow(principal, permission, target)

    async def _allow_tools(self, principal: Principal, tasks: Sequence[Task]) -> None:
        await self._allow(principal, Permission.SWARM_TASK)
        if len(tasks) > MAX_SUBMIT:
            raise ValidationError(f"at most {MAX_SUBMIT} tasks per request")
        prompt_tool = self._swarm().settings.prompt_tool
        for tool in sorted({t.tool or prompt_tool for t in tasks}):
            await self._allow(principal, Permission.TOOL_CALL, tool)

    # -- reading ---------------------------------------------------------------------------
    async def status(self, principal: Principal) -> SwarmStats:
        await self._allow(principal, Permission.SWARM_READ)
        return self._swarm().stats()

    async def agents(self, principal: Principal) -> list[AgentInfo]:
        await self._allow(principal, Permission.SWARM_READ)
        return self._swarm().agents()

    async def task(self, principal: Principal, task_id: str) -> TaskInfo:
        await self._allow(principal, Permission.SWARM_READ, task_id)
        return await self._swarm().task(task_id)

    async def history(
        self,
        principal: Principal,
        *,
        limit: int = 100,
        state: TaskState | None = None,
        graph_id: str | None = None,
    ) -> list[TaskInfo]:
        await self._allow(principal, Permission.SWARM_READ)
        return await self._swarm().history(limit=limit, state=state, graph_id=graph_id)

    async def attempts(self, principal: Principal, task_id: str) -> list[dict[str, Any]]:
        """Which agent ran each attempt of a task, with which outcome."""
        await self._allow(principal, Permission.SWARM_READ, task_id)
        return await self._swarm().store.attempts_of(task_id)

    async def votes(self, principal: Principal, task_id: str) -> ConsensusRecord | None:
        """How a redundant task was decided and each agent's vote (None: not decided by
        consensus, e.g. redundancy 1 or not finished yet)."""
        await self._allow(principal, Permission.SWARM_READ, task_id)
        info = await self._swarm().task(task_id)
        if info.consensus is None:
            return None
        return ConsensusRecord.from_outcome(info.id, info.consensus)

    # -- agents ------------------------------------------------------------------------------
    async def spawn(self, principal: Principal, spec: AgentSpec) -> AgentInfo:
        await self._allow(principal, Permission.SWARM_SPAWN, spec.role)
        return await self._swarm().spawn_agent(spec, principal)

    async def spawn_many(
        self, principal: Principal, spec: AgentSpec, count: int
    ) -> list[AgentInfo]:
        """Start ``count`` agents at once; refused as a whole (SwarmCapacityError) when they
        would not fit under ``swarm.max_agents``. A start failure raises after the others
        are up (they stay)."""
        await self._allow(principal, Permission.SWARM_SPAWN, spec.role)
        spec.validate()
        swarm = self._swarm()
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

    async def stop_agent(
        self, principal: Principal, agent_id: str, *, kill: bool = False
    ) -> AgentInfo:
        await self._allow(principal, Permission.SWARM_SPAWN, agent_id)
        return await self._swarm().stop_agent(agent_id, principal, kill=kill)

    # -- tasks -------------------------------------------------------------------------------
    async def submit(self, principal: Principal, tasks: Sequence[Task]) -> list[TaskInfo]:
        await self._allow_tools(principal, tasks)
        return await self._swarm().submit_many(tasks, principal)

    async def submit_plan(
        self, principal: Principal, plan: Sequence[Mapping[str, Any]]
    ) -> GraphInfo:
        """Submit an explicit task graph given as plain step dicts (an API request body)."""
        graph = TaskGraph.from_plan(plan)
        await self._allow_tools(principal, list(graph.tasks.values()))
        return await self._swarm().submit_graph(graph, principal)

    async def submit_graph(self, principal: Principal, graph: TaskGraph) -> GraphInfo:
        """Submit a task graph built by the caller (e.g. the IntentCompiler)."""
        await self._allow_tools(principal, list(graph.tasks.values()))
        return await self._swarm().submit_graph(graph, principal)

    async def submit_job(self, principal: Principal, job: Job) -> GraphInfo:
        """Decompose a complex job (rules, or the planner for prompts) and submit it."""
        graph = await self._swarm().decomposer.decompose(job)
        await self._allow_tools(principal, list(graph.tasks.values()))
        return await self._swarm().submit_graph(graph, principal)

    async def wait(
        self, principal: Principal, task_ids: Sequence[str], timeout: float
    ) -> list[TaskInfo]:
        """The tasks' snapshots once all are final, or as they are after ``timeout`` seconds."""
        await self._allow(principal, Permission.SWARM_READ)
        swarm = self._swarm()
        if task_ids and timeout > 0:
            waits = asyncio.gather(*(swarm.wait(t) for t in task_ids))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waits, timeout)
        return [await swarm.task(t) for t in task_ids]

    async def cancel(self, principal: Principal, task_id: str) -> TaskInfo:
        await self._allow(principal, Permission.SWARM_TASK, task_id)
        owner = self._swarm().owner(task_id)
        if owner and owner != principal.actor and principal.role is not Role.ADMIN:
            await self._guard.record(
                principal,
                "swarm.cancel",
                target=task_id,
                outcome="denied",
                reason=f"task belongs to {owner}",
            )
            raise PermissionDeniedError("only the task's owner or an administrator may cancel it")
        return await self._swarm().cancel(task_id, principal)

    # -- consensus ---------------------------------------------------------------------------
    async def consensus(
        self,
        principal: Principal,
        votes: Sequence[Vote],
        policy: ConsensusPolicy,
        *,
        expected: int | None = None,
        subject: str = "",
    ) -> Outcome:
        await self._allow(principal, Permission.SWARM_CONSENSUS, subject)
        return await self._swarm().decide(
            votes, policy, principal, expected=expected, subject=subject
        )
