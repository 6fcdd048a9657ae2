"""Typed keys under which the middleware leaves what handlers need on the request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from chimera_engine.security.principal import Principal

if TYPE_CHECKING:
    from chimera_engine.node import HeartNode

NODE: web.AppKey[Any] = web.AppKey("chimera_node")
PRINCIPAL = web.RequestKey("chimera_principal", Principal)
BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("chimera_body")


def node_of(request: web.Request) -> HeartNode:
    node: HeartNode = request.app[NODE]
    return node


def principal_of(request: web.Request) -> Principal:
    principal = request.get(PRINCIPAL)
    assert isinstance(principal, Principal), "route without authentication"
    return principal


def body_of(request: web.Request) -> dict[str, Any]:
    return request.get(BODY) or {}


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"
