"""Wraps each declared route: credentials, rate limit, body, permission, errors.

Order for a request: resolve credentials (401 if required and missing or bad)
-> count it against the client's rate limit (429 with Retry-After) -> read and
validate the JSON body (413, 400) -> check the permission through the same
facade the GUI uses (403, audited) -> run the handler. Every error leaves as
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from chimera_engine.api import responses
from chimera_engine.api.context import BODY, PRINCIPAL, client_ip, deps_of
from chimera_engine.api.routing import Route
from chimera_engine.api.schema import parse_json, validate
from chimera_engine.errors import (
    AuthenticationError,
    ChimeraError,
    TooManyRequestsError,
    ValidationError,
)
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
    """A principal for a JWT access token or an API key (audited when refused).

    Bad credentials count against the source's ``auth_failure`` bucket. Once it is
    empty, the source's bad credentials are answered 429 and no longer audited one
    by one (the endpoint writes one aggregated entry), so a flood of forged tokens
    writes a handful of rows; good credentials from the same address (other agents
    on one host) are still served, checking them costs microseconds."""
    limiter = security.rate_limiter
    source = f"ip:{client}"
    wait = limiter.wait_for(source, "auth_failure")
    api_key = token.startswith("chk_")
    try:
        if api_key:
            key, principal = security.api_keys.authenticate(token)
            limit = RateLimit.per_minute(key.rate_limit) if key.rate_limit else None
            return principal, limit
        return security.principal_from_token(token), None
    except AuthenticationError as exc:
        limiter.check(source, "auth_failure")  # counted before any await
        if wait > 0:
            raise TooManyRequestsError(
                f"too many failed authentications from this source; retry in {wait:.0f} s", wait
            ) from None
        action = "auth.api_key" if api_key else "auth.token"
        await security.audit.record(None, action, outcome="denied", reason=str(exc), client=client)
        raise


class Endpoint:
    def __init__(self, route: Route) -> None:
        self.route = route
        self._last_audit: dict[str, float] = {}
        self._refused: dict[str, int] = {}

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
        deps = deps_of(request)
        security = deps.security()
        ip = client_ip(request)
        principal: Principal | None = None
        override: RateLimit | None = None
        token = credentials(request)
        capability = request.headers.get("X-Capability")
        if route.permission is not None and token:
            try:
                principal, override = await authenticate(security, token, ip)
            except TooManyRequestsError:
                await self._audit_flood(security, f"ip:{ip}", None)
                raise
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
        """One entry per client and minute for a refused burst, counting the requests
        refused since the client's previous entry."""
        now = time.monotonic()
        self._refused[client] = self._refused.get(client, 0) + 1
        if now - self._last_audit.get(client, -_AUDIT_THROTTLE_S) < _AUDIT_THROTTLE_S:
            return
        self._last_audit[client] = now
        refused = self._refused.pop(client, 1)
        if len(self._last_audit) > 10_000:
            self._last_audit.clear()
            self._refused.clear()
        await security.audit.record(
            principal,
            "ratelimit.exceeded",
            target=self.route.path,
            outcome="denied",
            actor=None if principal else client,
            route_class=self.route.rate_class,
            refused=refused,
        )


def _empty_body_allowed(request: web.Request, route: Route) -> bool:
    """A route whose body has no required field may be called without one."""
    schema = route.body or {}
    return not request.can_read_body and not schema.get("required")


async def _read_json(request: web.Request) -> object:
    if not request.can_read_body:
        raise ValidationError("body: a JSON object is required")
    return parse_json(await request.read())
