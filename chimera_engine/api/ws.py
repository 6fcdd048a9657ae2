"""The WebSocket at ``/ws``: authenticate first, then commands and live event streams.

Protocol (JSON text frames):
- the first message must be ``{"type": "authenticate", "token": ...}`` (a session
  token or an API key) within 10 s; anything else closes the socket with 1008;
- ``{"type": "subscribe", "topics": [...]}`` starts streams (``audit``,
  ``reloads``, ``tools``, ``engine``, ``anomalies``, ``patches``, ``agents``,
  ``tasks``), each needing its read permission; ``tasks`` (every task state
  change, consensus outcomes, quarantines) is high volume;
- ``{"type": "reload_module", "module": ..., "id": ...}`` reloads a module;
- ``{"type": "generate_code", "module": ..., "description": ...}`` asks the model
  for a tested patch (answered with ``generate_result`` when it is done);
- ``{"type": "spawn_agent", "spec": {"role", "capabilities", "concurrency"},
  "count": n}`` starts agents (answered with ``spawn_result`` once they are ready);
- every reply carries the request's ``id`` when it had one.

Each connection has a bounded outgoing queue: a client that does not read
fast enough is disconnected (1008, "too slow") instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from chimera_engine.api.context import client_ip, deps_of
from chimera_engine.api.endpoint import authenticate
from chimera_engine.api.responses import dumps
from chimera_engine.api.schema import INT, SHORT, STRINGS, obj, parse_json, validate
from chimera_engine.errors import ChimeraError, TooManyRequestsError, ValidationError
from chimera_engine.events import (
    AnomalyAcknowledged,
    AnomalyDetected,
    AuditAppended,
    EngineStateChanged,
    Event,
    FailurePredicted,
    LoopLagSampled,
    ModuleFileDeleted,
    ModuleReloaded,
    PatchChanged,
    ToolCallCompleted,
    VersionChanged,
)
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.ratelimit import RateLimit
from chimera_engine.security.redact import hide_attempted_names
from chimera_engine.swarm.events import AgentChanged, ConsensusDecided, TaskChanged, TaskQuarantined
from chimera_engine.swarm.models import AgentSpec

log = logging.getLogger(__name__)

AUTH_TIMEOUT_S = 10.0
QUEUE_LIMIT = 1000
SESSION_CHECK_S = 0.25
# each message type counts against the same rate class as its REST route
RATE_CLASS = {
    "subscribe": "read",
    "ping": "read",
    "reload_module": "write",
    "generate_code": "llm",
    "spawn_agent": "write",
}

TOPICS: dict[str, tuple[Permission, tuple[type[Event], ...]]] = {
    "audit": (Permission.AUDIT_READ, (AuditAppended,)),
    "reloads": (Permission.TOOL_READ, (ModuleReloaded, VersionChanged, ModuleFileDeleted)),
    "tools": (Permission.TOOL_READ, (ToolCallCompleted,)),
    "engine": (Permission.ENGINE_STATUS, (EngineStateChanged, LoopLagSampled)),
    "anomalies": (
        Permission.ANOMALY_READ,
        (AnomalyDetected, AnomalyAcknowledged, FailurePredicted),
    ),
    "patches": (Permission.PATCH_READ, (PatchChanged,)),
    "agents": (Permission.SWARM_READ, (AgentChanged,)),
    "tasks": (Permission.SWARM_READ, (TaskChanged, ConsensusDecided, TaskQuarantined)),
}

SPAWN = obj(
    {"type": SHORT, "spec": obj({"role": SHORT}, {"capabilities": STRINGS, "concurrency": INT})},
    {"count": {**INT, "minimum": 1, "maximum": 16}, "id": {}},
)


def event_message(topic: str, event: Event) -> str:
    return dumps({"type": "event", "topic": topic, "event": type(event).__name__, "data": event})


class Connection:
    def __init__(self, ws: web.WebSocketResponse, request: web.Request, principal: Principal):
        self.ws = ws
        self.deps = deps_of(request)
        self.principal = principal
        self.outbox: asyncio.Queue[str] = asyncio.Queue(QUEUE_LIMIT)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.topics: set[str] = set()
        self.dropped = False
        self.rate_override: RateLimit | None = None
        self.ending: asyncio.Task[Any] | None = None

    def send(self, payload: dict[str, Any]) -> None:
        self.enqueue(dumps(payload))

    def enqueue(self, text: str) -> None:
        if self.dropped:
            return
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped = True
            self.spawn(self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too slow"))

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def writer(self) -> None:
        while True:
            text = await self.outbox.get()
            await self.ws.send_str(text)

    async def subscribe(self, topic: str) -> None:
        permission, types = TOPICS[topic]
        await self.deps.security().authorize(self.principal, permission, f"ws:{topic}")
        if topic in self.topics:
            return
        self.topics.add(topic)
        subscription = self.deps.bus.subscribe(*types, maxsize=QUEUE_LIMIT)

        async def pump() -> None:
            try:
                async for event in subscription:
                    if isinstance(event, AuditAppended) and self.principal.role is not Role.ADMIN:
                        event = AuditAppended(entry=hide_attempted_names(event.entry))
                    self.enqueue(event_message(topic, event))
            finally:
                subscription.close()

        self.spawn(pump())

    async def watch_session(self) -> None:
        """Close the socket as soon as its credential ends (logout, revocation, a change of
        the user by any process): subscriptions must not outlive the session."""
        security = self.deps.security()
        while True:
            await asyncio.sleep(SESSION_CHECK_S)
            try:
                security.check_session(self.principal)
            except ChimeraError:
                self.dropped = True
                self.ending = asyncio.current_task()
                await self.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"session ended")
                return

    def rate_limited(self, kind: str, reply: dict[str, Any]) -> bool:
        security = self.deps.security()
        decision = security.rate_limiter.check(
            self.principal.actor, RATE_CLASS.get(kind, "read"), self.rate_override
        )
        if decision.allowed:
            return False
        self.send(
            {
                **reply,
                "type": "error",
                "code": "rate_limited",
                "message": f"too many requests; limit is {decision.limit.rate * 60:g}/min",
                "retry_after": round(decision.retry_after, 3),
            }
        )
        return True

    async def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        reply: dict[str, Any] = {"id": message["id"]} if "id" in message else {}
        if self.rate_limited(str(kind), reply):
            return
        try:
            if kind == "subscribe":
                topics = message.get("topics")
                if not isinstance(topics, list) or not all(t in TOPICS for t in topics):
                    raise ChimeraError(f"topics must be a list drawn from {sorted(TOPICS)}")
                for topic in topics:
                    await self.subscribe(topic)
                self.send({**reply, "type": "subscribed", "topics": sorted(self.topics)})
            elif kind == "reload_module":
                result = await self.deps.facade.modules.reload_module(
                    self.principal, str(message.get("module", "")), force=bool(message.get("force"))
                )
                self.send({**reply, "type": "reload_result", "result": result})
            elif kind == "generate_code":
                outcome = await self.deps.facade.patches.request_patch(
                    self.principal,
                    str(message.get("module", "")),
                    note=str(message.get("description", "")),
                )
                patch = outcome.patch
                self.send(
                    {
                        **reply,
                        "type": "generate_result",
                        "ok": outcome.report.ok,
                        "patch_id": patch.id if patch else None,
                        "state": patch.state.value if patch else None,
                        "reasons": outcome.report.reasons,
                        "replay": outcome.report.replay,
                    }
                )
            elif kind == "spawn_agent":
                validate(message, SPAWN)
                spec = message["spec"]
                agents = await self.deps.facade.swarm.spawn_many(
                    self.principal,
                    AgentSpec(
                        role=spec["role"],
                        capabilities=frozenset(spec.get("capabilities", ())),
                        concurrency=spec.get("concurrency", 4),
                    ),
                    message.get("count", 1),
                )
                self.send({**reply, "type": "spawn_result", "agents": agents})
            elif kind == "ping":
                self.send({**reply, "type": "pong"})
            else:
                self.send(
                    {
                        **reply,
                        "type": "error",
                        "code": "unknown_type",
                        "message": f"unknown message type {kind!r}",
                    }
                )
        except ChimeraError as exc:
            self.send({**reply, "type": "error", "code": exc.code, "message": str(exc)})

    async def close(self) -> None:
        for task in tuple(self.tasks):
            if task is not self.ending:  # a session-end close finishes its close frame
                task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _authenticate(
    ws: web.WebSocketResponse, request: web.Request
) -> tuple[Principal, RateLimit | None] | None:
    try:
        msg = await ws.receive(timeout=AUTH_TIMEOUT_S)
    except TimeoutError:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"authenticate first")
        return None
    try:
        data = parse_json(msg.data) if msg.type == WSMsgType.TEXT else None
    except ValidationError:
        data = None
    if not isinstance(data, dict) or data.get("type") != "authenticate":
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"authenticate first")
        return None
    try:
        principal, override = await authenticate(
            deps_of(request).security(), str(data.get("token", "")), client_ip(request)
        )
    except TooManyRequestsError:
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too many failures")
        return None
    except ChimeraError:
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"authentication failed")
        return None
    await ws.send_str(
        dumps({"type": "authenticated", "user": principal.name, "role": principal.role.value})
    )
    return principal, override


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=1 << 16)
    await ws.prepare(request)
    authenticated = await _authenticate(ws, request)
    if authenticated is None:
        return ws
    conn = Connection(ws, request, authenticated[0])
    conn.rate_override = authenticated[1]
    conn.spawn(conn.writer())
    conn.spawn(conn.watch_session())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = parse_json(msg.data)
            except ValidationError as exc:
                conn.send({"type": "error", "code": "invalid_json", "message": str(exc)})
                continue
            if isinstance(data, dict):
                await conn.handle(data)
            else:
                conn.send({"type": "error", "code": "invalid", "message": "expected an object"})
    finally:
        await conn.close()
        with contextlib.suppress(Exception):
            await ws.close()
    return ws
