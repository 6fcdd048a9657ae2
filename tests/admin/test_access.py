"""API keys, capability tokens and rate limiting."""

from __future__ import annotations

import asyncio
import time

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import AuthenticationError, PermissionDeniedError, ValidationError
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Permission
from chimera_engine.security.ratelimit import ClientRateLimiter, RateLimit, RateLimiter

# -- API keys ------------------------------------------------------------------------------


async def test_api_key_shown_once_stored_hashed(node: HeartNode, admin: Session) -> None:
    plaintext, key = await node.facade.admin.create_api_key(
        admin.principal, name="grafana", role="api_client", scopes=["metrics.read"], rate_limit=50
    )
    assert plaintext.startswith(f"chk_{key.prefix}_")
    stored = await node.db.read(lambda c: c.execute("SELECT key_hash FROM api_keys").fetchone()[0])
    assert plaintext not in stored and key.prefix not in stored
    audit = await node.security.audit.query(AuditQuery(action_prefix="apikey."))
    assert plaintext not in str(audit[0].detail)
    _, principal = node.security.api_keys.authenticate(plaintext)
    assert principal.name == "key:grafana" and principal.via == "api_key"
    assert principal.can(Permission.METRICS_READ)
    assert not principal.can(Permission.TOOL_CALL)  # api_client holds it, the scope does not


async def test_api_key_revocation_expiry_and_last_use(node: HeartNode, admin: Session) -> None:
    now = time.time()
    plaintext, key = await node.facade.admin.create_api_key(
        admin.principal, name="ci", role="api_client", expires_at=now + 3600
    )
    _, principal = node.security.api_keys.authenticate(plaintext)
    await node.security.api_keys.flush_last_used()
    assert node.security.api_keys.get(key.id).last_used_at is not None
    await node.facade.admin.revoke_api_key(admin.principal, key.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        node.security.api_keys.authenticate(plaintext)
    with pytest.raises(AuthenticationError, match="no longer valid"):
        await node.facade.modules.list_tools(
            principal
        )  # an already-authenticated principal dies too
    node.security.api_keys._clock = lambda: now + 7200
    plaintext2, _ = await node.facade.admin.create_api_key(
        admin.principal, name="later", role="observer", expires_at=now + 7300
    )
    node.security.api_keys._clock = lambda: now + 8000
    with pytest.raises(AuthenticationError, match="expired"):
        node.security.api_keys.authenticate(plaintext2)


@pytest.mark.parametrize(
    "bad", ["", "chk_", "chk_deadbeef_nope", "Bearer x", "chk_deadbeef", "xyz_00000000_abc"]
)
async def test_bad_api_keys(node: HeartNode, admin: Session, bad: str) -> None:
    await node.facade.admin.create_api_key(admin.principal, name="k", role="observer")
    with pytest.raises(AuthenticationError):
        node.security.api_keys.authenticate(bad)


async def test_api_key_validation(node: HeartNode, admin: Session) -> None:
    with pytest.raises(ValidationError, match="does not hold"):
        await node.facade.admin.create_api_key(
            admin.principal, name="x", role="observer", scopes=["tool.call"]
        )
    with pytest.raises(ValidationError, match="unknown scope"):
        await node.facade.admin.create_api_key(
            admin.principal, name="x", role="admin", scopes=["root"]
        )
    with pytest.raises(ValidationError, match="future"):
        await node.facade.admin.create_api_key(
            admin.principal, name="x", role="admin", expires_at=1.0
        )


async def test_only_admin_manages_keys(node: HeartNode, user_factory) -> None:
    operator = await user_factory("oscar", "operator")
    with pytest.raises(PermissionDeniedError):
        await node.facade.admin.create_api_key(operator.principal, name="x", role="observer")


# -- capability tokens ---------------------------------------------------------------------


async def test_capability_single_use_and_replay(node: HeartNode, admin: Session) -> None:
    token, cap = await node.facade.admin.issue_capability(
        admin.principal, Permission.PATCH_APPROVE, "patch:42"
    )
    principal = await node.security.capabilities.use(token, Permission.PATCH_APPROVE, "patch:42")
    assert principal.via == "capability" and principal.target == "patch:42"
    await node.security.authorize(principal, Permission.PATCH_APPROVE, "patch:42")
    with pytest.raises(PermissionDeniedError):
        await node.security.authorize(principal, Permission.PATCH_APPROVE, "patch:43")
    with pytest.raises(PermissionDeniedError):
        await node.security.authorize(principal, Permission.TOOL_RELOAD, "patch:42")
    with pytest.raises(AuthenticationError, match="already used"):
        await node.security.capabilities.use(token, Permission.PATCH_APPROVE, "patch:42")
    assert cap.jti not in {
        c.jti for c in await node.facade.admin.capabilities_in_force(admin.principal)
    }


async def test_concurrent_replay_only_one_wins(node: HeartNode, admin: Session) -> None:
    token, _ = await node.facade.admin.issue_capability(
        admin.principal, Permission.TOOL_RELOAD, "m"
    )
    caps = node.security.capabilities
    results = await asyncio.gather(
        *(caps.use(token, Permission.TOOL_RELOAD, "m") for _ in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1


async def test_capability_wrong_op_or_object(node: HeartNode, admin: Session) -> None:
    token, _ = await node.facade.admin.issue_capability(
        admin.principal, Permission.TOOL_RELOAD, "csv_cleaner", single_use=False
    )
    caps = node.security.capabilities
    with pytest.raises(PermissionDeniedError, match=r"not patch\.approve"):
        await caps.use(token, Permission.PATCH_APPROVE, "csv_cleaner")
    with pytest.raises(PermissionDeniedError, match="not log_parser"):
        await caps.use(token, Permission.TOOL_RELOAD, "log_parser")
    await caps.use(token, Permission.TOOL_RELOAD, "csv_cleaner")
    await caps.use(token, Permission.TOOL_RELOAD, "csv_cleaner")  # reusable


async def test_capability_attenuation_only_narrows(node: HeartNode, admin: Session) -> None:
    token, cap = await node.facade.admin.issue_capability(
        admin.principal, Permission.PATCH_APPROVE, "patch:*", ttl=600, single_use=False
    )
    narrow, child = await node.facade.admin.attenuate_capability(token, obj="patch:7", ttl=60)
    assert child.parent == cap.jti and child.expires_at <= cap.expires_at
    caps = node.security.capabilities
    await caps.use(narrow, Permission.PATCH_APPROVE, "patch:7")
    with pytest.raises(PermissionDeniedError):
        await caps.use(narrow, Permission.PATCH_APPROVE, "patch:8")  # used beyond its scope
    with pytest.raises(PermissionDeniedError, match="cannot widen"):
        await node.facade.admin.attenuate_capability(narrow, obj="patch:*")
    _, longer = await node.facade.admin.attenuate_capability(token, ttl=10_000)
    assert longer.expires_at <= cap.expires_at  # never outlives its parent
    single, _ = await node.facade.admin.attenuate_capability(token, single_use=True)
    with pytest.raises(PermissionDeniedError, match="reusable"):
        await node.facade.admin.attenuate_capability(single, single_use=False)
    # revoking the parent kills its children
    await node.facade.admin.revoke_capability(admin.principal, cap.jti)
    with pytest.raises(AuthenticationError, match="revoked"):
        await caps.use(narrow, Permission.PATCH_APPROVE, "patch:7")


async def test_cannot_grant_what_you_do_not_hold(node: HeartNode, user_factory) -> None:
    observer = await user_factory("olga", "observer")
    with pytest.raises(PermissionDeniedError):
        await node.facade.admin.issue_capability(
            observer.principal, Permission.PATCH_APPROVE, "patch:1"
        )


async def test_tampered_or_expired_capability(node: HeartNode, admin: Session) -> None:
    token, _ = await node.facade.admin.issue_capability(
        admin.principal, Permission.TOOL_RELOAD, "m", ttl=1
    )
    caps = node.security.capabilities
    head, body, sig = token.split(".")
    with pytest.raises(AuthenticationError):
        await caps.use(f"{head}.{body}.{sig[:-2]}xx", Permission.TOOL_RELOAD, "m")
    with pytest.raises(AuthenticationError):
        await caps.use(admin.tokens.access_token, Permission.TOOL_RELOAD, "m")  # a session token
    caps._clock = lambda: time.time() + 120
    with pytest.raises(AuthenticationError, match="expired"):
        await caps.use(token, Permission.TOOL_RELOAD, "m")


# -- rate limiting ---------------------------------------------------------------------------


def test_rate_limiting() -> None:
    clock = [0.0]
    limiter = ClientRateLimiter(
        {"write": RateLimit(rate=2.0, burst=4)}, default=RateLimit(10, 10), clock=lambda: clock[0]
    )
    decisions = [limiter.check("alice", "write") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 4 + [False] * 2
    assert decisions[-1].retry_after == pytest.approx(0.5)
    assert limiter.check("bob", "write").allowed  # other clients keep being served
    clock[0] = 1.0
    assert [limiter.check("alice", "write").allowed for _ in range(3)] == [True, True, False]
    per_key = RateLimit.per_minute(60, burst=1)
    assert limiter.check("key:x", "write", per_key).allowed
    assert not limiter.check("key:x", "write", per_key).allowed
    status = {(s.client, s.route_class): s for s in limiter.status()}
    assert status[("alice", "write")].denied == 3


def test_rate_limiter_memory_is_bounded() -> None:
    limiter = ClientRateLimiter({}, default=RateLimit(1, 1), max_buckets=100)
    for i in range(10_000):
        limiter.check(f"10.0.{i // 256}.{i % 256}", "read")
    assert len(limiter) == 100


def test_flood_held_to_rate() -> None:
    clock = [0.0]
    bucket = RateLimiter(rate=5.0, burst=5, clock=lambda: clock[0])
    allowed = 0
    for step in range(10_000):  # 10,000 requests over 10 simulated seconds
        clock[0] = step / 1000
        allowed += bucket.try_acquire()[0]
    assert 5 * 10 <= allowed <= 5 * 10 + 5 + 1
