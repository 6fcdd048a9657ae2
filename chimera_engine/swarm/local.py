"""LocalBackend: agents are child processes of the coordinator, talking over pipes.

An agent is declared lost when its process exits (EOF on its stdout, then the
exit status: ``kill -9`` shows as "killed by signal 9"), when it misses
heartbeats for ``heartbeat_timeout`` (it is then killed: a hung agent), or
when an attempt it started outlives its timeout by ``timeout_grace`` without
a reply. Its unfinished attempts go back to the coordinator (``on_lost``).
A tool that timed out in a thread it cannot leave gets the agent *recycled*:
it finishes its other work and exits, and the coordinator may start another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import chimera_engine
from chimera_engine.errors import AuthenticationError, NotFoundError
from chimera_engine.swarm.attention import AttentionClock
from chimera_engine.swarm.backend import Attempt, Sink
from chimera_engine.swarm.errors import AgentStartError, SwarmNotRunningError
from chimera_engine.swarm.execution import NODE_KEY_ENV
from chimera_engine.swarm.local_agent import AgentProcess, exit_reason
from chimera_engine.swarm.models import AgentInfo, AgentSpec, AgentState, new_id
from chimera_engine.swarm.protocol import LINE_LIMIT, Channel, decode, encode
from chimera_engine.swarm.reputation import Reputation, pick
from chimera_engine.swarm.resources import ProcessSampler
from chimera_engine.swarm.settings import SwarmSettings

log = logging.getLogger(__name__)


#: Ended agents (stopped, dead, killed) still listed; older ones are forgotten (what
#: happened to them stays in the audit log and the events).
FINAL_AGENTS_KEPT = 8


class LocalBackend:
    name = "local"

    def __init__(self, settings: SwarmSettings) -> None:
        self.settings = settings
        self._agents: dict[str, AgentProcess] = {}
        self._sink: Sink | None = None
        self._node_key = ""
        self._load_lines: dict[str, bytes] = {}
        self._stopping = False
        self.sampler = ProcessSampler()
        self.attention = AttentionClock()

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self, sink: Sink, node_key: str) -> None:
        self._sink, self._node_key, self._stopping = sink, node_key, False

    @property
    def sink(self) -> Sink:
        if self._sink is None:
            raise SwarmNotRunningError("the local backend is not started")
        return self._sink

    async def stop(self) -> None:
        self._stopping = True
        live = [a for a in self._agents.values() if not a.state.final]
        await asyncio.gather(
            *(self.stop_agent(a.id, kill=False, reason="swarm stopping") for a in live),
            return_exceptions=True,
        )
        for agent in self._agents.values():  # anything still alive (a spawn that raced us)
            if agent.proc is not None and agent.proc.returncode is None:
                self.kill(agent, AgentState.KILLED, "swarm stopping", crash=False)
                await agent.proc.wait()

    def _environment(self, agent: AgentProcess) -> dict[str, str]:
        env = dict(os.environ)
        root = str(Path(chimera_engine.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        env.update(agent.spec.env)
        env.update(
            {
                "CHIMERA_AGENT_ID": agent.id,
                "CHIMERA_AGENT_ROLE": agent.spec.role,
                "CHIMERA_AGENT_CONCURRENCY": str(agent.spec.concurrency),
                "CHIMERA_HEARTBEAT": str(self.settings.heartbeat_interval),
                NODE_KEY_ENV: self._node_key,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    async def spawn(self, spec: AgentSpec) -> AgentInfo:
        if self._stopping:
            raise SwarmNotRunningError("the swarm is stopping")
        agent = AgentProcess(
            id=f"{spec.role}-{new_id()[:8]}",
            spec=spec,
            prefetch=self.settings.prefetch,
            reputation_book=Reputation(self.settings.initial_reputation),
        )
        self._agents[agent.id] = agent
        loop = asyncio.get_running_loop()
        agent.hello = loop.create_future()
        try:
            proc = await asyncio.create_subprocess_exec(
                self.settings.python or sys.executable,
                "-m",
                "chimera_engine.swarm.agent",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._environment(agent),
                limit=LINE_LIMIT,
                start_new_session=True,
            )
        except OSError as exc:
            self._finish(agent, AgentState.DEAD, f"cannot start the agent: {exc.strerror}")
            raise AgentStartError(f"agent {agent.id} could not be started: {exc}") from None
        agent.proc, agent.pid = proc, proc.pid
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        agent.channel = Channel(proc.stdin)
        self.sink.spawn_task(self._read(agent, proc.stdout), f"swarm-agent-{agent.id}")
        self.sink.spawn_task(self._drain(agent, proc.stderr), f"swarm-agent-{agent.id}-stderr")
        try:
            hello = await asyncio.wait_for(asyncio.shield(agent.hello), self.settings.ready_timeout)
            self.sink.authenticate(str(hello.get("key", "")))
        except TimeoutError:
            limit = self.settings.ready_timeout
            self.kill(agent, AgentState.DEAD, f"not ready within {limit:g} s", crash=False)
            await self._settled(agent)
            raise AgentStartError(f"agent {agent.id} was not ready within {limit:g} s") from None
        except AuthenticationError as exc:
            self.kill(agent, AgentState.REFUSED, f"refused: {exc}", crash=False)
            await self._settled(agent)
            raise AgentStartError(f"agent {agent.id} was refused: {exc}") from None
        except AgentStartError:
            await self._settled(agent)
            raise
        if self._stopping or agent.state is not AgentState.STARTING:
            self.kill(agent, AgentState.KILLED, "the swarm stopped while it started", crash=False)
            await self._settled(agent)
            raise AgentStartError(f"agent {agent.id}: the swarm stopped while it started")
        agent.channel.send({"t": "welcome", "agent": agent.id})
        agent.state, agent.ready_at = AgentState.READY, time.time()
        agent.last_seen = time.monotonic()
        self.sink.on_agent(agent.info(), "ready")
        self.sink.capacity_changed()
        return agent.info()

    async def _settled(self, agent: AgentProcess) -> None:
        """Wait until the agent's exit has been processed (its state is final)."""
        if agent.proc is not None:
            await agent.proc.wait()
        for _ in range(200):
            if agent.state.final:
                return
            await asyncio.sleep(0.01)

    async def _drain(self, agent: AgentProcess, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            agent.stderr.append(line)
            log.debug("agent %s: %s", agent.id, line)

    async def _read(self, agent: AgentProcess, stream: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    line = await stream.readline()
                except ValueError:  # a line beyond LINE_LIMIT: the agent is misbehaving
                    self.kill(agent, AgentState.DEAD, "sent an oversized message", crash=True)
                    continue
                if not line:
                    break
                agent.last_seen = time.monotonic()
                try:
                    self._handle(agent, decode(line))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("agent %s sent a bad message: %s", agent.id, exc)
        finally:
            await self._exited(agent)

    def _handle(self, agent: AgentProcess, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "done":
            attempt = agent.in_flight.pop(str(message["id"]), None)
            if attempt is None:
                return  # late reply to an attempt already given up: recorded elsewhere
            if agent.isolated == attempt.id:
                agent.isolated = ""
            if message.get("ok"):
                agent.completed += 1
            else:
                agent.failed += 1
            if message.get("stuck") and not agent.recycling:
                self._recycle(agent, "a timed-out tool still occupies one of its threads")
            self.sink.on_done(attempt, message)
            self.sink.capacity_changed()
        elif kind == "start":
            attempt = agent.in_flight.get(str(message["id"]))
            if attempt is not None:
                attempt.running = True
                attempt.started_wall = time.time()
                attempt.deadline = time.monotonic() + attempt.timeout + self.settings.timeout_grace
                self.sink.on_started(attempt)
        elif kind == "hb":
            agent.last_heartbeat = time.time()
            agent.rss = int(message.get("rss", 0))
        elif kind == "hello":
            if agent.hello is not None and not agent.hello.done():
                agent.hello.set_result(message)
        elif kind == "bye":
            agent.reason = agent.reason or "stopped"

    async def _exited(self, agent: AgentProcess) -> None:
        code = await agent.proc.wait() if agent.proc is not None else None
        if agent.hello is not None and not agent.hello.done():
            tail = "; ".join(list(agent.stderr)[-3:])
            agent.hello.set_exception(
                AgentStartError(
                    f"agent {agent.id} {exit_reason(code)} before it was ready"
                    + (f": {tail}" if tail else "")
                )
            )
            agent.hello.exception()  # retrieved: nobody may be waiting any more
        if agent.kill_reason is not None:
            state, reason, crash = agent.kill_reason
        elif agent.state is AgentState.STOPPING:
            state, reason, crash = AgentState.STOPPED, agent.reason or "stopped", False
        else:
            state, reason, crash = AgentState.DEAD, exit_reason(code), True
        lost = list(agent.in_flight.values())
        agent.in_flight.clear()
        if lost and crash:
            agent.reputation_book.failure()
        change = {
            AgentState.STOPPED: "recycled" if agent.recycling else "stopped",
            AgentState.KILLED: "killed",
            AgentState.REFUSED: "refused",
        }.get(state)
        if state is AgentState.DEAD:
            change = "hung" if agent.kill_reason is not None else "died"
        self._finish(agent, state, reason)
        self.forget_finished(FINAL_AGENTS_KEPT)  # ended agents must not pile up
        if agent.channel is not None:
            agent.channel.closed = True
        if self._sink is None:
            return
        for attempt in lost:  # only what was running may have caused the death
            self.sink.on_lost(attempt, f"agent {agent.id} {reason}", crash and attempt.running)
        self.sink.on_agent(agent.info(), change or state.value)
        self.sink.capacity_changed()
        self.forget_finished()

    def _finish(self, agent: AgentProcess, state: AgentState, reason: str) -> None:
        agent.state, agent.reason = state, reason

    # -- stopping -------------------------------------------------------------------------
    def kill(self, agent: AgentProcess, state: AgentState, reason: str, *, crash: bool) -> None:
        """SIGKILL now; the reader reports the exit with ``state``/``reason``."""
        if agent.kill_reason is None:
            agent.kill_reason = (state, reason, crash)
        if agent.proc is not None and agent.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                agent.proc.kill()

    def _recycle(self, agent: AgentProcess, reason: str) -> None:
        agent.recycling = True
        agent.reason = f"recycled: {reason}"
        self._request_stop(agent)

    def _request_stop(self, agent: AgentProcess) -> None:
        if agent.state in (AgentState.READY, AgentState.STARTING):
            agent.state = AgentState.STOPPING
            agent.stop_deadline = time.monotonic() + self.settings.stop_grace
            if agent.channel is not None:
                agent.channel.send({"t": "stop"})
            if self._sink is not None:
                self.sink.on_agent(agent.info(), "stopping")

    async def stop_agent(self, agent_id: str, *, kill: bool, reason: str) -> AgentInfo:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NotFoundError(f"no agent {agent_id!r}")
        if agent.state.final:
            return agent.info()
        if kill:
            self.kill(agent, AgentState.KILLED, reason or "killed by an operator", crash=False)
        else:
            agent.reason = reason or "stopped by an operator"
            self._request_stop(agent)
        if agent.proc is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(agent.proc.wait()), self.settings.stop_grace + 1.0
                )
            except TimeoutError:
                self.kill(agent, AgentState.KILLED, "did not stop in time", crash=False)
                await agent.proc.wait()
        for _ in range(100):  # let the reader report the exit
            if agent.state.final:
                break
            await asyncio.sleep(0.01)
        return agent.info()

    # -- placement ------------------------------------------------------------------------
    def agents(self) -> list[AgentInfo]:
        """Snapshots, with CPU and memory sampled at most once a second (see
        :class:`~.resources.ProcessSampler`)."""
        live = [a for a in self._agents.values() if not a.state.final and a.pid is not None]
        self.sampler.refresh(a.pid for a in live if a.pid is not None)
        usage = self.sampler.usage
        return [a.info(None if a.state.final else usage(a.pid)) for a in self._agents.values()]

    def live_count(self) -> int:
        return sum(1 for a in self._agents.values() if a.state is AgentState.READY)

    def forget_finished(self, keep: int = 200) -> None:
        finished = [k for k, a in self._agents.items() if a.state.final]
        for key in finished[:-keep] if keep else finished:
            del self._agents[key]

    def can_serve(self, role: str, requires: frozenset[str]) -> bool:
        return any(
            a.spec.role == role
            and requires <= a.spec.capabilities
            and a.state in (AgentState.STARTING, AgentState.READY)
            and not a.recycling
            for a in self._agents.values()
        )

    def place(self, attempt: Attempt) -> bool:
        eligible = [
            a
            for a in self._agents.values()
            if a.serving
            and a.spec.role == attempt.role
            and attempt.requires <= a.spec.capabilities
            and (not attempt.isolate or a.load == 0)
        ]
        chosen = pick(eligible, attempt.exclude)
        if chosen is None and attempt.exclude and all(a.id in attempt.exclude for a in eligible):
            chosen = pick(eligible)  # fewer agents than replicas: reuse rather than wait
        if chosen is None:
            return False
        agent = self._agents[chosen.id]
        assert agent.channel is not None
        key = attempt.ref.key
        if key not in agent.bundles:
            line = self._load_lines.get(key)
            if line is None:
                line = self._load_lines[key] = encode({"t": "load", **attempt.ref.bundle})
            agent.channel.send_raw(line)
            agent.bundles.add(key)
        agent.channel.send(
            {
                "t": "run",
                "id": attempt.id,
                "key": key,
                "tool": attempt.ref.tool,
                "inputs": attempt.inputs,
                "timeout": attempt.timeout,
            }
        )
        attempt.agent, attempt.sent_at = agent.id, time.monotonic()
        agent.in_flight[attempt.id] = attempt
        if attempt.isolate:  # a suspect runs alone, so the next crash is surely its own
            agent.isolated = attempt.id
        return True

    def cancel(self, attempt: Attempt) -> None:
        agent = self._agents.get(attempt.agent)
        if agent is None or agent.in_flight.pop(attempt.id, None) is None:
            return
        if agent.isolated == attempt.id:
            agent.isolated = ""
        if agent.channel is not None:
            agent.channel.send({"t": "cancel", "id": attempt.id})

    def reputation(self, agent_id: str) -> Reputation | None:
        agent = self._agents.get(agent_id)
        return agent.reputation_book if agent is not None else None

    def sweep(self, now: float) -> None:
        limit = self.settings.heartbeat_timeout
        self.attention.tick(now)  # a stalled host loop is not a silent agent
        for agent in list(self._agents.values()):
            if agent.state not in (AgentState.READY, AgentState.STOPPING):
                continue
            if agent.kill_reason is not None:
                continue
            if self.attention.silence(agent.last_seen, now) > limit:
                self.kill(
                    agent,
                    AgentState.DEAD,
                    f"hung: no heartbeat for {now - agent.last_seen:.1f} s",
                    crash=True,
                )
            elif agent.state is AgentState.STOPPING and now > agent.stop_deadline:
                self.kill(
                    agent,
                    AgentState.KILLED if not agent.recycling else AgentState.STOPPED,
                    agent.reason or "did not stop in time",
                    crash=False,
                )
            else:
                for attempt in agent.in_flight.values():
                    if attempt.running and now > attempt.deadline:
                        self.kill(
                            agent,
                            AgentState.DEAD,
                            f"hung: task attempt {attempt.id} overran its "
                            f"{attempt.timeout:g} s timeout",
                            crash=True,
                        )
                        break
