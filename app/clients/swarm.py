"""The Swarm panel's client: agents, tasks, task graphs, consensus outcomes.

Every method goes through the authorised facade as the signed-in user: reads need
``swarm.read``; spawning, stopping and killing agents ``swarm.spawn``; submitting
and cancelling tasks ``swarm.task`` (plus ``tool.call`` on each tool). The engine
audits every change.
"""

from __future__ import annotations

from app.clients import CurrentPrincipal
from chimera_engine.facade import EngineFacade
from chimera_engine.modules.service import ToolInfo
from chimera_engine.swarm.ballots import ConsensusRecord
from chimera_engine.swarm.coordinator import SwarmStats
from chimera_engine.swarm.decomposer import Job
from chimera_engine.swarm.models import AgentInfo, AgentSpec, Task, TaskInfo, TaskState
from chimera_engine.swarm.submission import GraphInfo

#: Tasks read for the tasks list (newest first).
TASKS_SHOWN = 300
#: Most tasks of one graph drawn in the graph view.
GRAPH_TASKS = 500


class SwarmClient:
    def __init__(self, facade: EngineFacade, principal: CurrentPrincipal) -> None:
        self._facade = facade
        self._principal = principal

    # -- reading ---------------------------------------------------------------------------
    async def stats(self) -> SwarmStats:
        return await self._facade.swarm.status(self._principal())

    async def list_agents(self) -> list[AgentInfo]:
        """Every agent the backend knows (recently finished ones too), CPU and memory
        sampled at most once a second by the engine."""
        return await self._facade.swarm.agents(self._principal())

    async def list_tasks(
        self, *, limit: int = TASKS_SHOWN, state: TaskState | None = None
    ) -> list[TaskInfo]:
        """Recorded tasks, newest first."""
        return await self._facade.swarm.history(self._principal(), limit=limit, state=state)

    async def graph_tasks(self, graph_id: str) -> list[TaskInfo]:
        """The tasks of one decomposed job (up to :data:`GRAPH_TASKS`)."""
        return await self._facade.swarm.history(
            self._principal(), limit=GRAPH_TASKS, graph_id=graph_id
        )

    async def task_attempts(self, task_id: str) -> list[dict[str, object]]:
        """Which agent ran each attempt, with which outcome (oldest first)."""
        return await self._facade.swarm.attempts(self._principal(), task_id)

    async def task_votes(self, task_id: str) -> ConsensusRecord | None:
        return await self._facade.swarm.votes(self._principal(), task_id)

    async def tools(self) -> list[ToolInfo]:
        """The workspace's active tools (for the submit dialog)."""
        return await self._facade.modules.list_tools(self._principal())

    # -- agents ----------------------------------------------------------------------------
    async def spawn_agents(self, spec: AgentSpec, count: int) -> list[AgentInfo]:
        """Start ``count`` agents of ``spec``, returned once they are ready."""
        return await self._facade.swarm.spawn_many(self._principal(), spec, count)

    async def stop_agent(self, agent_id: str, *, kill: bool = False) -> AgentInfo:
        """Stop after the running work (``kill``: SIGKILL now; its work is reassigned)."""
        return await self._facade.swarm.stop_agent(self._principal(), agent_id, kill=kill)

    # -- tasks -----------------------------------------------------------------------------
    async def submit_task(self, task: Task) -> TaskInfo:
        (info,) = await self._facade.swarm.submit(self._principal(), [task])
        return info

    async def submit_job(self, job: Job) -> GraphInfo:
        """Decompose ``job`` into a task graph and submit it."""
        return await self._facade.swarm.submit_job(self._principal(), job)

    async def cancel_task(self, task_id: str) -> TaskInfo:
        return await self._facade.swarm.cancel(self._principal(), task_id)
