"""Sessions: login, token verification, refresh and logout."""

from __future__ import annotations

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import body_of, client_ip, deps_of, principal_of
from chimera_engine.api.endpoint import authenticate
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import SHORT, STRING, obj
from chimera_engine.errors import AuthenticationError
from chimera_engine.security.permissions import Permission


async def login(request: web.Request) -> web.StreamResponse:
    deps = deps_of(request)
    body = body_of(request)
    username = body["username"]
    # failures are throttled per (name, source) by the account service: a bucket per
    # name alone would let anyone lock a user out
    session = await deps.facade.sessions.login(
        username, body["password"], client=f"api:{client_ip(request)}"
    )
    return responses.ok(session.tokens.as_dict())


async def verify_token(request: web.Request) -> web.StreamResponse:
    deps = deps_of(request)
    # refusals count against the source like any other bad credential
    principal, _ = await authenticate(
        deps.security(), body_of(request)["token"], client_ip(request)
    )
    return responses.ok(
        {
            "valid": True,
            "sub": principal.name,
            "role": principal.role.value,
            "exp": principal.expires_at,
        }
    )


async def refresh(request: web.Request) -> web.StreamResponse:
    session = await deps_of(request).facade.sessions.refresh(body_of(request)["refresh_token"])
    return responses.ok(session.tokens.as_dict())


async def logout(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    if principal.via != "token":
        raise AuthenticationError("only a session token can be logged out")
    await deps_of(request).facade.sessions.logout(principal, body_of(request).get("refresh_token"))
    return web.Response(status=204)


ROUTES = [
    Route(
        method="POST",
        path="/api/auth/login",
        handler=login,
        permission=None,
        summary="Exchange a user name and password for tokens",
        rate_class="login",
        body=obj({"username": SHORT, "password": {"type": "string", "maxLength": 1024}}),
        tag="auth",
        responses={200: "OAuth2 token response", 401: "refused"},
    ),
    Route(
        method="POST",
        path="/api/auth/token/verify",
        handler=verify_token,
        permission=None,
        summary="Check an access token and say whom it speaks for",
        rate_class="read",
        body=obj({"token": STRING}),
        tag="auth",
    ),
    Route(
        method="POST",
        path="/api/auth/token/refresh",
        handler=refresh,
        permission=None,
        summary="Rotate a refresh token for a new token pair",
        rate_class="write",
        body=obj({"refresh_token": STRING}),
        tag="auth",
    ),
    Route(
        method="POST",
        path="/api/auth/logout",
        handler=logout,
        permission=Permission.ENGINE_STATUS,
        rate_class="write",
        summary="Revoke this session's tokens",
        body=obj(optional={"refresh_token": STRING}),
        tag="auth",
        responses={204: "logged out"},
    ),
]
