"""Builds the aiohttp application from the declared routes."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from chimera_engine.api import (
    admin_routes,
    auth_routes,
    intent_routes,
    metric_routes,
    patch_routes,
    responses,
    swarm_routes,
    system_routes,
    tool_routes,
)
from chimera_engine.api.context import DEPS, ApiDeps
from chimera_engine.api.endpoint import Endpoint
from chimera_engine.api.openapi import OPENAPI, document
from chimera_engine.api.routing import Route
from chimera_engine.api.ws import websocket_handler

MAX_BODY_BYTES = 1 << 20


def all_routes() -> list[Route]:
    return [
        *system_routes.ROUTES,
        *auth_routes.ROUTES,
        *admin_routes.ROUTES,
        *tool_routes.ROUTES,
        *metric_routes.ROUTES,
        *patch_routes.ROUTES,
        *swarm_routes.ROUTES,
        *intent_routes.ROUTES,
    ]


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Give aiohttp's own refusals (404, 405, 413) the API's error shape."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        code = exc.reason.lower().replace(" ", "_")
        return responses.error(
            exc.status, code, f"{exc.reason}: {request.method} {request.path}", headers
        )


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@web.middleware
async def http_metrics(request: web.Request, handler: Any) -> web.StreamResponse:
    """Count every answer by route template (not path: ids stay out of the labels),
    method and status; time it unless it is a WebSocket session."""
    start = time.perf_counter()
    code = 500
    try:
        response: web.StreamResponse = await handler(request)
        code = response.status
        return response
    except web.HTTPException as exc:
        code = exc.status
        raise
    finally:
        info = request.match_info
        route = info.route.resource.canonical if info.route.resource is not None else "unmatched"
        method = request.method if request.method in _METHODS else "OTHER"
        metrics = request.app[DEPS].metrics
        metrics.http_requests.labels(route, method, str(code)).inc()
        if route != "/ws":
            metrics.http_duration.labels(route, method).observe(time.perf_counter() - start)


def _handler(route: Route) -> Any:
    endpoint = Endpoint(route)

    async def handle(request: web.Request) -> web.StreamResponse:
        return await endpoint(request)

    return handle


def build_app(deps: ApiDeps, *, max_body: int = MAX_BODY_BYTES) -> web.Application:
    """The application serving the engine parts in ``deps``."""
    app = web.Application(client_max_size=max_body, middlewares=[http_metrics, json_errors])
    app[DEPS] = deps
    routes = all_routes()
    for route in routes:
        app.router.add_route(route.method, route.path, _handler(route), name=route.operation_id)
    app.router.add_get("/ws", websocket_handler, name="websocket")
    app[OPENAPI] = document(routes)
    return app
