"""Administration: API keys, capability tokens, users, rate limits and the audit log."""

from __future__ import annotations

import time

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import body_of, deps_of, principal_of
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import BOOL, INT, NUMBER, SHORT, STRING, STRINGS, obj
from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import ValidationError
from chimera_engine.security.apikeys import APIKey
from chimera_engine.security.permissions import Permission, Role

ROLE = {"type": "string", "enum": [r.value for r in Role]}
PERMISSION = {"type": "string", "enum": [p.value for p in Permission]}


def key_json(key: APIKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "role": key.role.value,
        "scopes": list(key.scopes),
        "rate_limit": key.rate_limit,
        "created_at": key.created_at,
        "created_by": key.created_by,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "last_used_at": key.last_used_at,
        "state": key.state(time.time()),
    }


def _int_param(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ValidationError(f"{name} must be an integer") from None


async def create_key(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    expires_in = body.get("expires_in")
    plaintext, key = await deps_of(request).facade.admin.create_api_key(
        principal_of(request),
        name=body["name"],
        role=body["role"],
        scopes=body.get("scopes", []),
        expires_at=time.time() + expires_in if expires_in else None,
        rate_limit=body.get("rate_limit"),
    )
    return responses.ok({"api_key": plaintext, "key": key_json(key)}, status=201)


async def list_keys(request: web.Request) -> web.StreamResponse:
    keys = await deps_of(request).facade.admin.list_api_keys(principal_of(request))
    return responses.ok({"keys": [key_json(k) for k in keys]})


async def revoke_key(request: web.Request) -> web.StreamResponse:
    key = await deps_of(request).facade.admin.revoke_api_key(
        principal_of(request), _int_param(request, "key_id")
    )
    return responses.ok({"key": key_json(key)})


async def issue_capability(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    token, cap = await deps_of(request).facade.admin.issue_capability(
        principal_of(request),
        body["permission"],
        body["object"],
        ttl=body.get("ttl", 300),
        single_use=body.get("single_use", True),
    )
    return responses.ok({"token": token, "capability": cap}, status=201)


async def attenuate_capability(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    token, cap = await deps_of(request).facade.admin.attenuate_capability(
        body["token"],
        obj=body.get("object"),
        ttl=body.get("ttl"),
        single_use=body.get("single_use"),
    )
    return responses.ok({"token": token, "capability": cap}, status=201)


async def list_capabilities(request: web.Request) -> web.StreamResponse:
    caps = await deps_of(request).facade.admin.capabilities_in_force(principal_of(request))
    return responses.ok({"capabilities": caps})


async def revoke_capability(request: web.Request) -> web.StreamResponse:
    await deps_of(request).facade.admin.revoke_capability(
        principal_of(request), request.match_info["jti"]
    )
    return web.Response(status=204)


async def list_users(request: web.Request) -> web.StreamResponse:
    users = await deps_of(request).facade.admin.list_users(principal_of(request))
    return responses.ok({"users": users})


async def create_user(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    change = await deps_of(request).facade.admin.create_user(
        principal_of(request), body["username"], body["password"], body["role"]
    )
    return responses.ok({"user": change.user}, status=201)


async def login_throttles(request: web.Request) -> web.StreamResponse:
    throttles = await deps_of(request).facade.admin.login_throttles(principal_of(request))
    return responses.ok({"throttles": throttles})


async def clear_login_throttle(request: web.Request) -> web.StreamResponse:
    body = body_of(request)
    cleared = await deps_of(request).facade.admin.clear_login_throttle(
        principal_of(request), body["account"], body.get("source", "")
    )
    return responses.ok({"cleared": cleared})


async def rate_limits(request: web.Request) -> web.StreamResponse:
    status = await deps_of(request).facade.admin.rate_limit_status(principal_of(request))
    return responses.ok({"clients": status})


SEQ_MAX = 2**53


async def query_audit(request: web.Request) -> web.StreamResponse:
    q = request.query
    try:
        limit = min(int(q.get("limit", "100")), 1000)
        before = int(q["before"]) if "before" in q else None
    except ValueError:
        raise ValidationError("limit and before must be integers") from None
    if before is not None and not 0 <= before <= SEQ_MAX:
        raise ValidationError(f"before must be between 0 and {SEQ_MAX}")
    entries = await deps_of(request).facade.audit.query(
        principal_of(request),
        AuditQuery(
            action_prefix=q.get("action", ""),
            actor=q.get("actor", ""),
            outcome=q.get("outcome", ""),
            text=q.get("text", ""),
            before_seq=before,
            limit=max(1, limit),
        ),
    )
    return responses.ok({"entries": entries})


async def verify_audit(request: web.Request) -> web.StreamResponse:
    result = await deps_of(request).facade.audit.verify(principal_of(request))
    return responses.ok({**result.__dict__, "summary": result.summary()})


ROUTES = [
    Route(
        method="POST",
        path="/api/keys/create",
        handler=create_key,
        permission=Permission.APIKEY_MANAGE,
        rate_class="write",
        tag="admin",
        summary="Create an API key (the key is in this response only)",
        body=obj(
            {"name": SHORT, "role": ROLE},
            {
                "scopes": STRINGS,
                "expires_in": {**NUMBER, "minimum": 1},
                "rate_limit": {**INT, "minimum": 1, "maximum": 100_000},
            },
        ),
        responses={201: "created"},
    ),
    Route(
        method="GET",
        path="/api/keys",
        handler=list_keys,
        permission=Permission.APIKEY_MANAGE,
        summary="List API keys (never the keys themselves)",
        tag="admin",
    ),
    Route(
        method="POST",
        path="/api/keys/{key_id}/revoke",
        handler=revoke_key,
        permission=Permission.APIKEY_MANAGE,
        rate_class="write",
        tag="admin",
        summary="Revoke an API key at once",
    ),
    Route(
        method="POST",
        path="/api/capabilities",
        handler=issue_capability,
        permission=Permission.ENGINE_STATUS,
        rate_class="write",
        tag="admin",
        summary="Grant one operation on one object as a short-lived token",
        body=obj(
            {"permission": PERMISSION, "object": SHORT},
            {"ttl": {**NUMBER, "minimum": 1, "maximum": 3600}, "single_use": BOOL},
        ),
        responses={201: "issued"},
    ),
    Route(
        method="POST",
        path="/api/capabilities/attenuate",
        handler=attenuate_capability,
        permission=None,
        rate_class="write",
        tag="admin",
        summary="Derive a narrower capability from one you hold",
        body=obj(
            {"token": STRING},
            {"object": SHORT, "ttl": {**NUMBER, "minimum": 1}, "single_use": BOOL},
        ),
        responses={201: "issued"},
    ),
    Route(
        method="GET",
        path="/api/capabilities",
        handler=list_capabilities,
        permission=Permission.CAPABILITY_ISSUE,
        tag="admin",
        summary="Capability tokens in force",
    ),
    Route(
        method="DELETE",
        path="/api/capabilities/{jti}",
        handler=revoke_capability,
        permission=Permission.CAPABILITY_ISSUE,
        rate_class="write",
        tag="admin",
        summary="Revoke a capability (and every token derived from it)",
        responses={204: "revoked"},
    ),
    Route(
        method="GET",
        path="/api/users",
        handler=list_users,
        permission=Permission.USER_READ,
        summary="List users",
        tag="admin",
    ),
    Route(
        method="POST",
        path="/api/users",
        handler=create_user,
        permission=Permission.USER_MANAGE,
        rate_class="write",
        tag="admin",
        summary="Create a user",
        body=obj(
            {"username": SHORT, "password": {"type": "string", "maxLength": 1024}, "role": ROLE}
        ),
        responses={201: "created"},
    ),
    Route(
        method="GET",
        path="/api/auth/throttles",
        handler=login_throttles,
        permission=Permission.USER_READ,
        summary="Failed-login throttles per (name, source)",
        tag="admin",
    ),
    Route(
        method="POST",
        path="/api/auth/throttles/clear",
        handler=clear_login_throttle,
        permission=Permission.USER_MANAGE,
        rate_class="write",
        summary="Forget the failed logins of a name (from one source, or all)",
        tag="admin",
        body=obj({"account": STRING}, {"source": STRING}),
    ),
    Route(
        method="GET",
        path="/api/ratelimits",
        handler=rate_limits,
        permission=Permission.USER_READ,
        summary="Rate-limit state per client",
        tag="admin",
    ),
    Route(
        method="GET",
        path="/api/audit",
        handler=query_audit,
        permission=Permission.AUDIT_READ,
        summary="Query the audit log, newest first",
        tag="audit",
        query={
            "action": SHORT,
            "actor": SHORT,
            "outcome": SHORT,
            "text": SHORT,
            "limit": INT,
            "before": {"type": "integer", "minimum": 0, "maximum": SEQ_MAX},
        },
    ),
    Route(
        method="POST",
        path="/api/audit/verify",
        handler=verify_audit,
        permission=Permission.AUDIT_VERIFY,
        rate_class="write",
        tag="audit",
        summary="Verify the audit log's hash chain",
    ),
]
