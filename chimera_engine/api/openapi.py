"""The OpenAPI 3 document, generated from the route declarations."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from chimera_engine import __version__
from chimera_engine.api.routing import Route

#: Where the application keeps its generated document (read by ``GET /api/openapi.json``).
OPENAPI = web.AppKey("chimera_openapi", dict[str, Any])

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def document(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "tags": [route.tag],
            "responses": {
                str(code): {"description": text} for code, text in route.responses.items()
            },
        }
        op["responses"].setdefault(
            "200" if not any(200 <= c < 300 for c in route.responses) else "",
            {"description": "success", "content": {"application/json": {"schema": {}}}},
        )
        op["responses"].pop("", None)
        for code, text in ((400, "invalid request"), (429, "rate limited")):
            op["responses"][str(code)] = {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        if route.permission is not None:
            op["security"] = [{"bearer": []}, {"apiKey": []}]
            op["description"] = f"Requires the `{route.permission.value}` permission."
            for code, text in ((401, "not authenticated"), (403, "not allowed")):
                op["responses"][str(code)] = {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
        else:
            op["security"] = []
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        parameters += [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in route.query.items()
        ]
        if parameters:
            op["parameters"] = parameters
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": route.body}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "CHIMERA engine API", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
