"""The IntentCompiler over HTTP: plan a request (nothing runs), then run it.

A request is ``{"text": "clean every CSV in inbox/ ..."}`` or ``{"form": {...}}``
(see :mod:`chimera_engine.intent.compiler`). ``/api/intent/run`` compiles it
again; with the ``digest`` of the plan the operator saw, a plan that changed
since (files edited, tools reloaded) is refused with 409 instead of run.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import body_of, deps_of, principal_of
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import ANY_OBJECT, NUMBER, SHORT, STRING, obj
from chimera_engine.errors import ConflictError, ValidationError
from chimera_engine.intent.plan import IntentPlan
from chimera_engine.security.permissions import Permission

REQUEST: dict[str, Any] = {"text": {**STRING, "maxLength": 2000}, "form": ANY_OBJECT}


async def _plan(request: web.Request) -> IntentPlan:
    body = body_of(request)
    if ("text" in body) == ("form" in body):
        raise ValidationError("give the request as text or as a form (one of them)")
    return await deps_of(request).facade.intent.plan(
        principal_of(request), body["text"] if "text" in body else body["form"]
    )


async def plan_intent(request: web.Request) -> web.StreamResponse:
    return responses.ok((await _plan(request)).to_json())


async def run_intent(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    plan = await _plan(request)
    if "digest" in body and body["digest"] != plan.digest:
        raise ConflictError("the plan changed since it was shown (files or tools); plan again")
    facade, principal = deps_of(request).facade, principal_of(request)
    graph = await facade.intent.run(principal, plan)
    tasks = list(graph.tasks)
    if body.get("wait", 0) > 0:
        tasks = await facade.swarm.wait(principal, [t.id for t in tasks], body["wait"])
    return responses.ok(
        {"plan": plan.to_json(), "graph_id": graph.id, "outputs": graph.outputs, "tasks": tasks},
        status=201,
    )


ROUTES = [
    Route(
        method="POST",
        path="/api/intent/plan",
        handler=plan_intent,
        permission=Permission.SWARM_TASK,
        rate_class="write",
        tag="swarm",
        summary="Compile a request into a task graph and show it; nothing runs",
        body=obj({}, REQUEST),
        responses={200: "the plan: steps, tools, inputs, dependencies"},
    ),
    Route(
        method="POST",
        path="/api/intent/run",
        handler=run_intent,
        permission=Permission.SWARM_TASK,
        rate_class="write",
        tag="swarm",
        summary="Compile a request and submit its task graph (tool.call needed per tool)",
        body=obj(
            {},
            {**REQUEST, "digest": SHORT, "wait": {**NUMBER, "minimum": 0, "maximum": 60}},
        ),
        responses={201: "the submitted tasks", 409: "the plan changed since it was shown"},
    ),
]
