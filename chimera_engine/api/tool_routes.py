"""Tools and hot reload: list, versions, call, reload, activate, roll back."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import body_of, deps_of, principal_of
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import ANY_OBJECT, BOOL, INT, SHORT, obj
from chimera_engine.runtime import ToolCallError, ToolTimeoutError
from chimera_engine.security.permissions import Permission
from chimera_engine.workspace import validate_module_name


def _module_target(request: web.Request, body: dict[str, Any]) -> str:
    return validate_module_name(str(body.get("module") or request.match_info.get("module", "")))


async def reload_stats(request: web.Request) -> web.StreamResponse:
    return responses.ok(await deps_of(request).facade.modules.reload_stats(principal_of(request)))


async def reload_module(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    result = await deps_of(request).facade.modules.reload_module(
        principal_of(request), body["module"], force=body.get("force", False)
    )
    return responses.ok(result, status=200 if result.ok else 422)


async def list_tools(request: web.Request) -> web.StreamResponse:
    return responses.ok(
        {"tools": await deps_of(request).facade.modules.list_tools(principal_of(request))}
    )


async def module_versions(request: web.Request) -> web.StreamResponse:
    versions = await deps_of(request).facade.modules.module_versions(
        principal_of(request), validate_module_name(request.match_info["module"])
    )
    return responses.ok({"versions": versions})


async def call_tool(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    try:
        result = await deps_of(request).facade.modules.call_tool(
            principal_of(request), body["tool"], body.get("args", {}), version=body.get("version")
        )
    except ToolTimeoutError as exc:
        return responses.error(504, exc.code, str(exc))
    except ToolCallError as exc:
        return responses.error(502, exc.code, str(exc))
    return responses.ok({"result": result})


async def activate(request: web.Request) -> web.StreamResponse:
    result = await deps_of(request).facade.modules.activate_version(
        principal_of(request), _module_target(request, {}), body_of(request)["version"]
    )
    return responses.ok(result, status=200 if result.ok else 422)


async def rollback(request: web.Request) -> web.StreamResponse:
    result = await deps_of(request).facade.modules.rollback_module(
        principal_of(request), _module_target(request, {})
    )
    return responses.ok(result, status=200 if result.ok else 422)


ROUTES = [
    Route(
        method="GET",
        path="/api/reload/stats",
        handler=reload_stats,
        permission=Permission.TOOL_READ,
        summary="Hot-reload statistics",
        tag="tools",
    ),
    Route(
        method="POST",
        path="/api/reload/module",
        handler=reload_module,
        permission=Permission.TOOL_RELOAD,
        rate_class="write",
        tag="tools",
        summary="Reload a tool module from its file into a new version",
        body=obj({"module": SHORT}, {"force": BOOL}),
        capability=_module_target,
        responses={422: "refused; the running version keeps serving"},
    ),
    Route(
        method="GET",
        path="/api/tools",
        handler=list_tools,
        permission=Permission.TOOL_READ,
        summary="Active tools with their signatures",
        tag="tools",
    ),
    Route(
        method="GET",
        path="/api/tools/{module}/versions",
        handler=module_versions,
        permission=Permission.TOOL_READ,
        summary="Version history of a module",
        tag="tools",
    ),
    Route(
        method="POST",
        path="/api/tools/call",
        handler=call_tool,
        permission=Permission.TOOL_CALL,
        rate_class="write",
        tag="tools",
        summary="Call a tool and return its result",
        body=obj({"tool": SHORT}, {"args": ANY_OBJECT, "version": {**INT, "minimum": 1}}),
        responses={502: "the tool raised", 504: "the tool timed out"},
    ),
    Route(
        method="POST",
        path="/api/tools/{module}/activate",
        handler=activate,
        permission=Permission.TOOL_ACTIVATE,
        rate_class="write",
        tag="tools",
        summary="Make an existing version active",
        body=obj({"version": {**INT, "minimum": 1}}),
        capability=_module_target,
    ),
    Route(
        method="POST",
        path="/api/tools/{module}/rollback",
        handler=rollback,
        permission=Permission.TOOL_ACTIVATE,
        rate_class="write",
        tag="tools",
        summary="Roll back to the previous good version",
        capability=_module_target,
    ),
]
