"""The swarm over HTTP: agents (spawn, list, stop), tasks (submit, list, show, cancel),
ad-hoc consensus and statistics.

``POST /api/swarm/task`` takes one task (its fields at the top level), a list
(``tasks``) or a graph (``plan``: steps whose ``id`` names are local to the plan
and may be referenced with ``{"$ref": name}``; each gets a unique task id, and
``names`` maps them). ``wait`` (seconds) holds the answer until the tasks are
final, or that long. ``POST /api/swarm/agents/{id}/stop?kill=true`` kills at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import body_of, deps_of, principal_of
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import ANY_OBJECT, BOOL, INT, NUMBER, SHORT, STRING, STRINGS, obj
from chimera_engine.errors import ValidationError
from chimera_engine.security.permissions import Permission
from chimera_engine.swarm.consensus import Vote
from chimera_engine.swarm.graph import task_from_step
from chimera_engine.swarm.models import (
    MAX_REDUNDANCY,
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
    TaskState,
    as_ref,
    new_id,
)

MAX_SPAWN = 16
MAX_WAIT_S = 60.0
MAX_TASKS_PER_REQUEST = 1000

POLICY = obj(
    {},
    {
        "method": {"type": "string", "enum": [m.value for m in ConsensusMethod]},
        "threshold": {**NUMBER, "minimum": 0.01, "maximum": 1},
        "tolerance": {**NUMBER, "minimum": 0, "maximum": 1e12},
    },
)
TASK_FIELDS: dict[str, Any] = {
    "id": {**SHORT, "maxLength": 128},
    "tool": SHORT,
    "prompt": STRING,
    "inputs": ANY_OBJECT,
    "role": {**SHORT, "maxLength": 32},
    "requires": STRINGS,
    "priority": {**INT, "minimum": -1_000_000, "maximum": 1_000_000},
    "deadline": {**NUMBER, "minimum": 0, "maximum": 4_102_444_800},
    "idempotency_key": SHORT,
    "redundancy": {**INT, "minimum": 1, "maximum": MAX_REDUNDANCY},
    "consensus": POLICY,
    "tool_version": {**INT, "minimum": 1, "maximum": 2**31},
    "depends_on": STRINGS,
    "timeout": {**NUMBER, "minimum": 0.001, "maximum": 86_400},
    "max_attempts": {**INT, "minimum": 1, "maximum": 100},
    "retries": {**INT, "minimum": 0, "maximum": 100},
}
TASK = obj({}, TASK_FIELDS)
TASKS: dict[str, Any] = {"type": "array", "items": TASK, "maxItems": MAX_TASKS_PER_REQUEST}
VOTE = obj(
    {"agent": SHORT},
    {
        "value": {},
        "confidence": {**NUMBER, "minimum": 0, "maximum": 1},
        "reputation": {**NUMBER, "minimum": 0, "maximum": 1},
    },
)


def _task(step: Mapping[str, Any], n: int) -> Task:
    return task_from_step({**step, "id": step.get("id") or new_id()}, n, {})


def scoped_plan(
    plan: list[dict[str, Any]], prefix: str
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The plan with its step names made unique task ids (``prefix-name``), references
    and ``depends_on`` rewritten to match; returns it and the name -> id map."""
    local = [str(s.get("id") or f"step{n}") for n, s in enumerate(plan)]
    names = {name: f"{prefix}-{name}" for name in local}
    if len(names) != len(plan):
        raise ValidationError("two plan steps have the same id")

    def rename(ref: str) -> str:
        return names.get(ref, ref)

    steps: list[dict[str, Any]] = []
    for n, step in enumerate(plan):
        inputs: dict[str, Any] = {}
        for key, value in dict(step.get("inputs") or {}).items():
            ref = as_ref(value)
            if ref is None:
                inputs[key] = value
            elif ref[0]:
                inputs[key] = {**value, "$refs": [rename(r) for r in ref[1]]}
            else:
                inputs[key] = {**value, "$ref": rename(ref[1][0])}
        steps.append(
            {
                **step,
                "id": names[local[n]],
                "inputs": inputs,
                "depends_on": [rename(str(d)) for d in step.get("depends_on", ())],
            }
        )
    return steps, names


async def submit(request: web.Request) -> web.StreamResponse:
    body = dict(body_of(request))
    facade = deps_of(request).facade
    principal = principal_of(request)
    wait = float(body.pop("wait", 0.0))
    forms = [k for k in ("tasks", "plan") if k in body]
    single = {k: v for k, v in body.items() if k in TASK_FIELDS}
    if len(forms) + bool(single) != 1:
        raise ValidationError(
            "give one task (tool or prompt with its fields), or tasks: [...], or plan: [...]"
        )
    names: dict[str, str] = {}
    graph_id = None
    if "plan" in body:
        if not body["plan"]:
            raise ValidationError("plan: at least one step is required")
        steps, names = scoped_plan(body["plan"], new_id()[:12])
        graph = await facade.swarm.submit_plan(principal, steps)
        infos, graph_id = list(graph.tasks), graph.id
    else:
        raw = body.get("tasks", [single])
        if not raw:
            raise ValidationError("tasks: at least one task is required")
        infos = await facade.swarm.submit(principal, [_task(s, n) for n, s in enumerate(raw)])
    if wait > 0:
        infos = await facade.swarm.wait(principal, [i.id for i in infos], wait)
    reply: dict[str, Any] = {"tasks": infos}
    if graph_id is not None:
        reply.update(graph_id=graph_id, names=names)
    return responses.ok(reply, status=201)


async def spawn(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    spec = AgentSpec(
        role=body["role"],
        capabilities=frozenset(body.get("capabilities", ())),
        concurrency=body.get("concurrency", 4),
    ).validate()
    agents = await deps_of(request).facade.swarm.spawn_many(
        principal_of(request), spec, body.get("count", 1)
    )
    return responses.ok({"agents": agents}, status=201)


async def list_agents(request: web.Request) -> web.StreamResponse:
    agents = await deps_of(request).facade.swarm.agents(principal_of(request))
    return responses.ok({"agents": agents})


async def stop_agent(request: web.Request) -> web.StreamResponse:
    info = await deps_of(request).facade.swarm.stop_agent(
        principal_of(request),
        request.match_info["agent_id"],
        kill=_query_bool(request, "kill"),
    )
    return responses.ok({"agent": info})


async def stats(request: web.Request) -> web.StreamResponse:
    return responses.ok(await deps_of(request).facade.swarm.status(principal_of(request)))


async def consensus(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    votes = [
        Vote(
            v["agent"],
            v.get("value"),
            float(v.get("confidence", 1.0)),
            float(v.get("reputation", 1.0)),
        )
        for v in body["votes"]
    ]
    if not votes:
        raise ValidationError("votes: at least one vote is required")
    policy = ConsensusPolicy.from_json(body.get("policy", {}))
    outcome = await deps_of(request).facade.swarm.consensus(
        principal_of(request),
        votes,
        policy,
        expected=body.get("expected"),
        subject=body.get("subject", ""),
    )
    return responses.ok(outcome.to_json())


def _query_bool(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false").lower()
    if text not in ("true", "false", "1", "0"):
        raise ValidationError(f"{name} must be true or false")
    return text in ("true", "1")


def _query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ValidationError(f"{name} must be {low}-{high}")
    return value


async def list_tasks(request: web.Request) -> web.StreamResponse:
    state_text = request.query.get("state")
    try:
        state = TaskState(state_text) if state_text else None
    except ValueError:
        names = ", ".join(s.value for s in TaskState)
        raise ValidationError(f"state must be one of {names}") from None
    graph = request.query.get("graph") or None
    if graph is not None and len(graph) > 128:
        raise ValidationError("graph: longer than 128 characters")
    tasks = await deps_of(request).facade.swarm.history(
        principal_of(request),
        limit=_query_int(request, "limit", 100, 1, 1000),
        state=state,
        graph_id=graph,
    )
    return responses.ok({"tasks": tasks})


async def show_task(request: web.Request) -> web.StreamResponse:
    facade, principal = deps_of(request).facade, principal_of(request)
    task_id = request.match_info["task_id"]
    info = await facade.swarm.task(principal, task_id)
    attempts = await facade.swarm.attempts(principal, task_id)
    return responses.ok({"task": info, "attempts": attempts})


async def cancel_task(request: web.Request) -> web.StreamResponse:
    info = await deps_of(request).facade.swarm.cancel(
        principal_of(request), request.match_info["task_id"]
    )
    return responses.ok({"task": info})


ROUTES = [
    Route(
        method="POST",
        path="/api/swarm/spawn",
        handler=spawn,
        permission=Permission.SWARM_SPAWN,
        rate_class="write",
        tag="swarm",
        summary="Start agents of a role; answers once they are ready",
        body=obj(
            {"role": {**SHORT, "maxLength": 32}},
            {
                "count": {**INT, "minimum": 1, "maximum": MAX_SPAWN},
                "capabilities": STRINGS,
                "concurrency": {**INT, "minimum": 1, "maximum": 256},
            },
        ),
        responses={201: "the agents, ready", 409: "swarm.max_agents reached"},
    ),
    Route(
        method="POST",
        path="/api/swarm/task",
        handler=submit,
        permission=Permission.SWARM_TASK,
        rate_class="write",
        tag="swarm",
        summary="Submit one task, a list of tasks or a task graph (needs tool.call per tool)",
        body=obj(
            {},
            {
                **TASK_FIELDS,
                "tasks": TASKS,
                "plan": TASKS,
                "wait": {**NUMBER, "minimum": 0, "maximum": MAX_WAIT_S},
            },
        ),
        responses={201: "the submitted tasks (their final state when waited for)"},
    ),
    Route(
        method="POST",
        path="/api/swarm/consensus",
        handler=consensus,
        permission=Permission.SWARM_CONSENSUS,
        rate_class="write",
        tag="swarm",
        summary="Decide between votes by a consensus policy (each vote and the outcome audited)",
        body=obj(
            {"votes": {"type": "array", "items": VOTE, "maxItems": 1000}},
            {
                "policy": POLICY,
                "expected": {**INT, "minimum": 1, "maximum": 1000},
                "subject": SHORT,
            },
        ),
    ),
    Route(
        method="GET",
        path="/api/swarm/agents",
        handler=list_agents,
        permission=Permission.SWARM_READ,
        tag="swarm",
        summary="Agents: role, state, load, reputation, RSS, heartbeat",
    ),
    Route(
        method="POST",
        path="/api/swarm/agents/{agent_id}/stop",
        handler=stop_agent,
        permission=Permission.SWARM_SPAWN,
        rate_class="write",
        tag="swarm",
        summary="Stop an agent after its running work, or kill it at once (its work reassigned)",
        query={"kill": BOOL},
    ),
    Route(
        method="GET",
        path="/api/swarm/stats",
        handler=stats,
        permission=Permission.SWARM_READ,
        tag="swarm",
        summary="Swarm counters: agents, queue, completed, dispatch round trip",
    ),
    Route(
        method="GET",
        path="/api/tasks",
        handler=list_tasks,
        permission=Permission.SWARM_READ,
        tag="swarm",
        summary="Recorded tasks, newest first",
        query={
            "state": {"type": "string", "enum": [s.value for s in TaskState]},
            "graph": SHORT,
            "limit": {**INT, "minimum": 1, "maximum": 1000},
        },
    ),
    Route(
        method="GET",
        path="/api/tasks/{task_id}",
        handler=show_task,
        permission=Permission.SWARM_READ,
        tag="swarm",
        summary="A task with its attempts (which agent, which outcome)",
    ),
    Route(
        method="POST",
        path="/api/tasks/{task_id}/cancel",
        handler=cancel_task,
        permission=Permission.SWARM_TASK,
        rate_class="write",
        tag="swarm",
        summary="Cancel an unfinished task",
    ),
]
