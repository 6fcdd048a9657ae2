"""One local agent process as the coordinator sees it: its process, pipes, work in hand,
counters and reputation. Owned and mutated by :class:`~.local.LocalBackend` only."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from chimera_engine.swarm.backend import Attempt
from chimera_engine.swarm.models import AgentInfo, AgentSpec, AgentState
from chimera_engine.swarm.protocol import Channel
from chimera_engine.swarm.reputation import Reputation
from chimera_engine.swarm.resources import Usage

_HOST = socket.gethostname()


@dataclass(eq=False, kw_only=True)
class AgentProcess:
    id: str
    spec: AgentSpec
    prefetch: int
    reputation_book: Reputation
    proc: asyncio.subprocess.Process | None = None
    channel: Channel | None = None
    state: AgentState = AgentState.STARTING
    pid: int | None = None
    started_at: float = field(default_factory=time.time)
    ready_at: float | None = None
    last_seen: float = field(default_factory=time.monotonic)
    last_heartbeat: float | None = None
    in_flight: dict[str, Attempt] = field(default_factory=dict)
    bundles: set[str] = field(default_factory=set)
    completed: int = 0
    failed: int = 0
    rss: int = 0
    reason: str = ""
    recycling: bool = False
    isolated: str = ""
    kill_reason: tuple[AgentState, str, bool] | None = None
    stop_deadline: float = float("inf")
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    hello: asyncio.Future[dict[str, Any]] | None = None

    @property
    def capacity(self) -> int:
        return self.spec.concurrency + self.prefetch

    @property
    def load(self) -> int:
        return len(self.in_flight)

    @property
    def reputation(self) -> float:
        return self.reputation_book.value

    @property
    def serving(self) -> bool:
        return self.state is AgentState.READY and not self.recycling and not self.isolated

    def info(self, usage: Usage | None = None) -> AgentInfo:
        """The snapshot; ``usage`` (a sample of the process) replaces the memory the agent
        reported in its last heartbeat and adds its CPU."""
        return AgentInfo(
            id=self.id,
            role=self.spec.role,
            capabilities=tuple(sorted(self.spec.capabilities)),
            concurrency=self.spec.concurrency,
            backend="local",
            state=self.state,
            pid=self.pid,
            host=_HOST,
            started_at=self.started_at,
            ready_at=self.ready_at,
            last_heartbeat=self.last_heartbeat,
            in_flight=self.load,
            completed=self.completed,
            failed=self.failed,
            reputation=self.reputation,
            rss_bytes=usage.rss_bytes if usage is not None else self.rss,
            reason=self.reason,
            cpu_percent=usage.cpu_percent if usage is not None else None,
        )


def exit_reason(code: int | None) -> str:
    if code is None:
        return "exited"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exited with code {code}"
