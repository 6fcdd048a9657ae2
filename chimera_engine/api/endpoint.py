"""Wraps each declared route: credentials, rate limit, body, permission, errors.

Order for a request: resolve credentials (401 if required and missing or bad)
-> count it against the client's rate limit (429 with Retry-After) -> read and
validate the JSON body (413, 400) -> check the permission through the same
facade the GUI uses (403, audited) -> run the handler. Every error leaves as
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import BODY, PRINCIPAL, client_ip, node_of
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import validate
from chimera_engine.errors import AuthenticationError, ChimeraError, ValidationError
from chimera_engine.security.manager import SecurityManager
from chimera_engine.security.principal import Principal
from chimera_engine.security.ratelimit import RateLimit

log = logging.getLogger(__name__)

_AUDIT_THROTTLE_S = 60.0


def credentials(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-API-Key")


async def authenticate(
    security: SecurityManager, token: str, client: str
) -> tuple[Principal, RateLimit | None]:
    """A principal for a JWT access token or an API key (audited when refused)."""
    if token.startswith("chk_"):
        try:
            key, principal = security.api_keys.authenticate(token)
        except AuthenticationError as exc:
            await security.audit.record(
                None, "auth.api_key", outcome="denied", reason=str(exc), client=client
            )
            raise
        limit = RateLimit.per_minute(key.rate_limit) if key.rate_limit else None
        return principal, limit
    return await security.authenticate_token(token, client=client), None


class Endpoint:
    def __init__(self, route: Route) -> None:
        self.route = route
        self._last_audit: dict[str, float] = {}

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except ChimeraError as exc:
            return responses.from_exception(exc)
        except web.HTTPRequestEntityTooLarge:
            limit = request.app._client_max_size
            return responses.error(413, "too_large", f"request body over {limit} bytes")
        except web.HTTPException:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return responses.error(500, "internal_error", "internal error; see the engine log")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = self.route
        node = node_of(request)
        security = node.security
        ip = client_ip(request)
        principal: Principal | None = None
        override: RateLimit | None = None
        token = credentials(request)
        capability = request.headers.get("X-Capability")
        if route.permission is not None and token:
            principal, override = await authenticate(security, token, ip)
        elif route.permission is not None and not (capability and route.capability):
            raise AuthenticationError("credentials required: send Authorization: Bearer <token>")

        client = principal.actor if principal else f"ip:{ip}"
        decision = security.rate_limiter.check(client, route.rate_class, override)
        if not decision.allowed:
            await self._audit_flood(security, client, principal)
            retry = max(1, round(decision.retry_after + 0.499))
            return responses.error(
                429,
                "rate_limited",
                f"too many requests; limit is {decision.limit.rate * 60:g}/min",
                {"Retry-After": str(retry)},
            )

        body: dict[str, object] = {}
        if route.body is not None:
            raw: object = {} if _empty_body_allowed(request, route) else await _read_json(request)
            body = validate(raw, route.body)
        request[BODY] = body

        if route.permission is not None:
            target = route.capability(request, body) if route.capability else ""
            if principal is None and capability:
                principal = await security.capabilities.use(capability, route.permission, target)
            assert principal is not None
            await security.authorize(principal, route.permission, target)
        if principal is not None:
            request[PRINCIPAL] = principal
        return await route.handler(request)

    async def _audit_flood(
        self, security: SecurityManager, client: str, principal: Principal | None
    ) -> None:
        now = time.monotonic()
        if now - self._last_audit.get(client, -_AUDIT_THROTTLE_S) < _AUDIT_THROTTLE_S:
            return
        self._last_audit[client] = now
        if len(self._last_audit) > 10_000:
            self._last_audit.clear()
        await security.audit.record(
            principal,
            "ratelimit.exceeded",
            target=self.route.path,
            outcome="denied",
            actor=None if principal else client,
            route_class=self.route.rate_class,
        )


def _empty_body_allowed(request: web.Request, route: Route) -> bool:
    """A route whose body has no required field may be called without one."""
    schema = route.body or {}
    return not request.can_read_body and not schema.get("required")


async def _read_json(request: web.Request) -> object:
    if not request.can_read_body:
        raise ValidationError("body: a JSON object is required")
    raw = await request.read()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise ValidationError(f"body is not valid JSON: {msg}") from None
