"""What the API is handed by the engine, and the typed keys under which the
middleware leaves what handlers need on the request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from chimera_engine.events import EventBus
from chimera_engine.facade import EngineFacade
from chimera_engine.metrics.exporter import EngineMetrics
from chimera_engine.metrics.exposition import Exposition
from chimera_engine.security.manager import SecurityManager
from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    from chimera_engine.anomaly.engine import PredictiveAlert


@dataclass(frozen=True, kw_only=True, eq=False)
class ApiDeps:
    """The narrow parts of the engine the API serves: the facade for every operation,
    the security manager for authentication (a getter: it is loaded at start), the bus
    for WebSocket topics, the engine's state for health checks, its metrics, the
    Prometheus exposition and the recent failure predictions."""

    facade: EngineFacade
    security: Callable[[], SecurityManager]
    bus: EventBus
    state: Callable[[], str]
    metrics: EngineMetrics
    exposition: Exposition
    predictions: Callable[[], Sequence[PredictiveAlert]]


DEPS: web.AppKey[ApiDeps] = web.AppKey("chimera_engine", ApiDeps)
PRINCIPAL = web.RequestKey("chimera_principal", Principal)
BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("chimera_body")


def deps_of(request: web.Request) -> ApiDeps:
    return request.app[DEPS]


def principal_of(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    assert isinstance(principal, Principal), "route without authentication"
    return principal


def body_of(request: web.Request) -> dict[str, Any]:
    return request.get(BODY) or {}


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"
