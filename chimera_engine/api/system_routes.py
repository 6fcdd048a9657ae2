"""Health, Prometheus metrics and the API's own description."""

from __future__ import annotations

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import deps_of, principal_of
from chimera_engine.api.openapi import OPENAPI
from chimera_engine.api.routing import Route
from chimera_engine.security.permissions import Permission


async def healthz(request: web.Request) -> web.StreamResponse:
    deps = deps_of(request)
    healthy = deps.state() == "running"
    return responses.ok(
        {"status": "ok" if healthy else deps.state()}, status=200 if healthy else 503
    )


async def prometheus(request: web.Request) -> web.StreamResponse:
    accept = request.headers.get("Accept", "")
    body, content_type = await deps_of(request).exposition.scrape(accept)
    return web.Response(body=body, headers={"Content-Type": content_type, "Vary": "Accept"})


async def status(request: web.Request) -> web.StreamResponse:
    return responses.ok(await deps_of(request).facade.engine.status(principal_of(request)))


async def openapi(request: web.Request) -> web.StreamResponse:
    return responses.ok(request.app[OPENAPI])


ROUTES = [
    Route(
        method="GET",
        path="/healthz",
        handler=healthz,
        permission=None,
        tag="system",
        summary="Liveness: 200 while the engine runs",
        responses={503: "not running"},
    ),
    Route(
        method="GET",
        path="/metrics",
        handler=prometheus,
        permission=Permission.METRICS_READ,
        tag="system",
        summary="The engine's metrics in Prometheus text format (OpenMetrics when "
        "Accept asks for application/openmetrics-text)",
    ),
    Route(
        method="GET",
        path="/api/status",
        handler=status,
        permission=Permission.ENGINE_STATUS,
        tag="system",
        summary="Engine health snapshot",
    ),
    Route(
        method="GET",
        path="/api/openapi.json",
        handler=openapi,
        permission=None,
        tag="system",
        summary="This document",
    ),
]
