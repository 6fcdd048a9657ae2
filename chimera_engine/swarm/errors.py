"""Errors the swarm reports; each is a :class:`ChimeraError` with an operator-fit message."""

from __future__ import annotations

from chimera_engine.errors import ChimeraError, ConflictError, ValidationError


class SwarmCapacityError(ConflictError):
    """More agents were requested than ``swarm.max_agents`` allows."""

    code = "swarm_capacity"


class AgentStartError(ChimeraError):
    """An agent process did not become ready (crashed, timed out, or was refused)."""

    code = "agent_start_failed"


class DecompositionError(ValidationError):
    """A task graph is invalid: a cycle, an unknown dependency, or a malformed plan."""

    code = "bad_decomposition"


class BackendUnavailableError(ChimeraError):
    """The execution backend cannot be used (e.g. the Dask scheduler is unreachable)."""

    code = "backend_unavailable"


class SwarmNotRunningError(ChimeraError):
    """The coordinator is not started (or is stopping)."""

    code = "swarm_not_running"
