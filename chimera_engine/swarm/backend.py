"""What the coordinator needs from where attempts run (:class:`Backend`) and what a
backend reports back (:class:`Sink`). Two backends exist: :mod:`.local` (agent
processes on this machine) and :mod:`.dask_backend` (Dask workers)."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chimera_engine.security.principal import Principal
from chimera_engine.swarm.models import AgentInfo, AgentSpec
from chimera_engine.swarm.reputation import Reputation
from chimera_engine.swarm.tools import ToolRef

Spawn = Any  # Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]] (kept loose for mypy)


@dataclass(eq=False, kw_only=True)
class Attempt:
    """One execution of one replica of a task on one agent. ``deadline`` (monotonic)
    is set when the agent reports the start: timeout plus grace. ``isolate`` asks for
    an agent doing nothing else (a task that already lost an agent while running).
    ``exclude`` lists agents better avoided (they ran this task before); ``apart`` the
    agents holding the task's other replicas, which a backend that can must never use."""

    id: str
    task_id: str
    replica: int
    ref: ToolRef
    inputs: Mapping[str, Any]
    timeout: float
    role: str
    requires: frozenset[str]
    priority: int
    exclude: frozenset[str] = frozenset()
    apart: frozenset[str] = frozenset()
    isolate: bool = False
    agent: str = ""
    sent_at: float = 0.0
    started_wall: float = 0.0
    running: bool = False
    deadline: float = float("inf")
    extra: dict[str, Any] = field(default_factory=dict)


class Sink(Protocol):
    """The coordinator, as a backend sees it. Every method is called on the loop thread."""

    def authenticate(self, key: str) -> Principal: ...

    def on_agent(self, agent: AgentInfo, change: str) -> None:
        """``change``: ready, stopping, stopped, killed, died, hung, recycled, refused;
        on Dask also joined (a worker proved its node key) and unreachable (the
        scheduler connection was lost, so the worker's state is unknown)."""
        ...

    def on_started(self, attempt: Attempt) -> None: ...

    def on_done(self, attempt: Attempt, reply: dict[str, Any]) -> None: ...

    def on_lost(
        self, attempt: Attempt, reason: str, crash: bool, *, poisoned: bool = False
    ) -> None:
        """The attempt's agent is gone; ``crash`` if the death may be the task's doing;
        ``poisoned`` if the backend already knows the task kills every agent."""
        ...

    def capacity_changed(self) -> None: ...

    def spawn_task(self, coro: Coroutine[Any, Any, Any], name: str) -> Any: ...


class Backend(Protocol):
    name: str

    async def start(self, sink: Sink, node_key: str) -> None:
        """Connect (BackendUnavailableError if it cannot); ``node_key`` is given to agents."""
        ...

    async def stop(self) -> None:
        """Stop every agent this backend started (gracefully, then by force)."""
        ...

    async def spawn(self, spec: AgentSpec) -> AgentInfo:
        """Start one agent and return once it is ready (AgentStartError otherwise)."""
        ...

    async def stop_agent(self, agent_id: str, *, kill: bool, reason: str) -> AgentInfo: ...

    def agents(self) -> list[AgentInfo]: ...

    def live_count(self) -> int:
        """Ready agents, not counting those whose ``spawn`` is still in progress (the
        coordinator counts those itself against the maximum)."""
        ...

    def can_serve(self, role: str, requires: frozenset[str]) -> bool:
        """Whether any live agent could ever take such a task."""
        ...

    def place(self, attempt: Attempt) -> bool:
        """Send ``attempt`` to an agent now; False if none has room (try again later)."""
        ...

    def cancel(self, attempt: Attempt) -> None: ...

    def reputation(self, agent_id: str) -> Reputation | None: ...

    def sweep(self, now: float) -> None:
        """Periodic checks (heartbeats, overdue attempts); ``now`` is monotonic."""
        ...
