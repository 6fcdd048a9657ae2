"""Routes are declared once, with what they need; the app, the middleware and the
OpenAPI document are all built from the same declarations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from chimera_engine.api.schema import Schema
from chimera_engine.security.permissions import Permission

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CapabilityTarget = Callable[[web.Request, dict[str, Any]], str]


@dataclass(frozen=True, kw_only=True)
class Route:
    """One endpoint.

    ``permission`` None means public (no credentials). ``rate_class`` picks the
    rate limit (``read``, ``write``, ``llm``, ``login``). ``capability`` says
    which object an ``X-Capability`` token must cover to stand in for a login.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    permission: Permission | None
    rate_class: str = "read"
    body: Schema | None = None
    query: dict[str, Schema] = field(default_factory=dict)
    capability: CapabilityTarget | None = None
    tag: str = "engine"
    responses: dict[int, str] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


ROUTE_KEY = web.AppKey("chimera_route", Route)
