"""SwarmSettings: the ``[swarm]`` section of the configuration.

Only scalar fields (str, int, float, bool), so the engine's TOML/environment
loader can read it as is (``CHIMERA_SWARM__MAX_AGENTS=16``). Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from chimera_engine.errors import ConfigError

BACKENDS = ("local", "dask")


@dataclass(frozen=True, kw_only=True)
class SwarmSettings:
    """How the swarm runs.

    ``enabled`` false leaves the swarm out of the engine altogether.
    ``backend`` is ``local`` (agent processes on this machine, talking over
    pipes) or ``dask`` (a Dask scheduler at ``scheduler_address``; agents are
    Dask workers whose resources name their role). ``initial_agents`` is
    spawned at start, e.g. ``"executor:2,analyzer:1"``. ``max_attempts`` is
    the poison threshold: a task whose attempts killed or hung that many
    agents is quarantined. ``prefetch`` is how many tasks beyond its
    concurrency an agent may hold queued (pipelining). ``python`` is the
    interpreter for agents (empty: the engine's own). ``resume`` false leaves
    unfinished tasks to another engine (the ``chimera`` command sets it: the
    serving engine alone owns the task lifecycle).
    """

    enabled: bool = True
    backend: str = "local"
    max_agents: int = 8
    initial_agents: str = ""
    heartbeat_interval: float = 0.5
    heartbeat_timeout: float = 3.0
    ready_timeout: float = 10.0
    stop_grace: float = 5.0
    task_timeout: float = 30.0
    timeout_grace: float = 2.0
    max_attempts: int = 3
    prefetch: int = 2
    respawn: bool = True
    respawn_per_minute: int = 10
    initial_reputation: float = 0.5
    prompt_tool: str = ""
    audit_results: bool = False
    python: str = ""
    scheduler_address: str = ""
    connect_timeout: float = 5.0
    resume: bool = True

    def validate(self) -> SwarmSettings:
        """Return ``self`` or raise :class:`ConfigError` naming the bad key."""
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"swarm.backend: expected one of {', '.join(BACKENDS)}, got {self.backend!r}"
            )
        if self.backend == "dask" and not self.scheduler_address:
            raise ConfigError("swarm.scheduler_address: required when swarm.backend is dask")
        if self.max_agents < 1:
            raise ConfigError("swarm.max_agents: must be at least 1")
        if self.max_attempts < 1:
            raise ConfigError("swarm.max_attempts: must be at least 1")
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise ConfigError("swarm.heartbeat_timeout: must exceed swarm.heartbeat_interval")
        if not 0.0 < self.initial_reputation <= 1.0:
            raise ConfigError("swarm.initial_reputation: must be in (0, 1]")
        for key in ("heartbeat_interval", "ready_timeout", "task_timeout", "connect_timeout"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"swarm.{key}: must be positive")
        parse_initial_agents(self.initial_agents)
        return self


def parse_initial_agents(text: str) -> list[tuple[str, int]]:
    """``"executor:2,analyzer"`` -> ``[("executor", 2), ("analyzer", 1)]``.

    >>> parse_initial_agents("executor:2, analyzer")
    [('executor', 2), ('analyzer', 1)]
    """
    found: list[tuple[str, int]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        role, _, count = part.partition(":")
        try:
            n = int(count) if count else 1
        except ValueError:
            raise ConfigError(f"swarm.initial_agents: bad count in {part!r}") from None
        if not role.strip() or n < 0:
            raise ConfigError(f"swarm.initial_agents: bad entry {part!r}")
        found.append((role.strip(), n))
    return found
