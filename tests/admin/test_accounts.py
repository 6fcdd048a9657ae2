"""Users: password policy, first administrator, login failures and lockout."""

from __future__ import annotations

import asyncio

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import (
    AccountLockedError,
    AuthenticationError,
    ConflictError,
    ValidationError,
)
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from chimera_engine.security.passwords import PasswordHasher, check_password_policy
from chimera_engine.security.throttle import LockoutPolicy
from tests.conftest import ADMIN_PASSWORD, make_settings


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 8"),
        ("password123", "too common"),
        ("Password123", "too common"),
        ("aaaaaaaaaaa", "single character"),
        ("alice.smith", "user name"),
    ],
)
def test_password_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        check_password_policy(password, "alice.smith")


def test_hasher_uses_argon2id_with_owasp_minimum() -> None:
    hasher = PasswordHasher()
    digest = hasher.hash("correct horse battery")
    assert digest.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in digest
    assert hasher.verify(digest, "correct horse battery")
    assert not hasher.verify(digest, "wrong horse battery")
    assert not hasher.verify(None, "anything at all")
    with pytest.raises(ValidationError):
        PasswordHasher(memory_kib=1024)


async def test_first_admin_only_once(node: HeartNode) -> None:
    assert await node.facade.sessions.needs_first_admin()
    session = await node.facade.sessions.create_first_admin("root-admin", ADMIN_PASSWORD)
    assert session.principal.role.value == "admin"
    assert not await node.facade.sessions.needs_first_admin()
    with pytest.raises(ConflictError, match="already exists"):
        await node.facade.sessions.create_first_admin("second", ADMIN_PASSWORD)


async def test_concurrent_first_admins_only_one_wins(node: HeartNode) -> None:
    results = await asyncio.gather(
        node.facade.sessions.create_first_admin("first", ADMIN_PASSWORD),
        node.facade.sessions.create_first_admin("other", ADMIN_PASSWORD),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Session) for r in results) == 1
    assert sum(isinstance(r, ConflictError) for r in results) == 1


async def test_first_admin_refuses_weak_password(node: HeartNode) -> None:
    with pytest.raises(ValidationError, match="too common"):
        await node.facade.sessions.create_first_admin("admin", "password1")
    assert await node.facade.sessions.needs_first_admin()


async def test_wrong_password_and_unknown_user_look_the_same(
    node: HeartNode, admin: Session
) -> None:
    with pytest.raises(AuthenticationError) as wrong:
        await node.facade.sessions.login("admin", "not the password")
    with pytest.raises(AuthenticationError) as unknown:
        await node.facade.sessions.login("nobody", "not the password")
    assert str(wrong.value) == str(unknown.value) == "invalid username or password"
    denied = await node.security.audit.query(
        AuditQuery(action_prefix="auth.login", outcome="denied")
    )
    assert {e.target for e in denied} == {"admin", "nobody"}
    assert all("not the password" not in str(e.detail) for e in denied)


async def test_throttle_per_name_and_source_with_back_off(tmp_path) -> None:
    settings = make_settings(
        tmp_path,
        CHIMERA_SECURITY__LOCKOUT_THRESHOLD="3",
        CHIMERA_SECURITY__LOCKOUT_BASE_SECONDS="60",
    )
    now = [1_000_000.0]
    node = HeartNode(settings)
    await node.start()
    try:
        node.security.accounts._clock = lambda: now[0]
        node.security.accounts.throttle._clock = lambda: now[0]
        await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        attacker = "api:203.0.113.9"
        outcomes: dict[str, list[str]] = {}
        for name in ("admin", "no-such-user"):  # a known and an unknown name
            seen = outcomes.setdefault(name, [])
            for _ in range(4):
                try:
                    await node.facade.sessions.login(name, "bad guess 123", client=attacker)
                except AccountLockedError as exc:
                    seen.append(f"locked {exc.retry_after:.0f}")
                except AuthenticationError as exc:
                    seen.append(str(exc))
        # identical behaviour whether the name exists or not
        assert outcomes["admin"] == outcomes["no-such-user"]
        assert outcomes["admin"][:3] == [
            "invalid username or password",
            "invalid username or password",
            "locked 60",
        ]
        assert outcomes["admin"][3].startswith("locked")
        # the attacker's source waits, even with the right password...
        with pytest.raises(AccountLockedError):
            await node.facade.sessions.login("admin", ADMIN_PASSWORD, client=attacker)
        # ...while the administrator at the console is not slowed at all
        session = await node.facade.sessions.login("admin", ADMIN_PASSWORD)
        assert session.user.username == "admin"
        throttles = await node.security.accounts.throttle.list()
        assert {(t.account, t.source) for t in throttles} == {
            ("admin", attacker),
            ("no-such-user", attacker),
        }
        now[0] += 61
        with pytest.raises(AccountLockedError, match="try again in 120 s"):
            await node.facade.sessions.login("admin", "bad guess 123", client=attacker)  # doubles
        assert await node.security.accounts.throttle.clear("admin") == 1
        again = await node.facade.sessions.login("admin", ADMIN_PASSWORD, client=attacker)
        assert again.user.username == "admin"
    finally:
        await node.stop()


def test_lockout_policy_caps() -> None:
    policy = LockoutPolicy(threshold=5, base=30, maximum=900)
    assert [policy.lock_seconds(n) for n in (4, 5, 6, 7, 20)] == [0, 30, 60, 120, 900]


async def test_disabled_account_cannot_log_in(
    node: HeartNode, admin: Session, user_factory
) -> None:
    await user_factory("carol", "observer")
    await node.facade.admin.set_user_disabled(admin.principal, "carol", True)
    with pytest.raises(AuthenticationError, match="disabled"):
        await node.facade.sessions.login("carol", ADMIN_PASSWORD)


async def test_admin_cannot_disable_or_demote_self(node: HeartNode, admin: Session) -> None:
    with pytest.raises(ValidationError):
        await node.facade.admin.set_user_disabled(admin.principal, "admin", True)
    with pytest.raises(ValidationError):
        await node.facade.admin.set_user_role(admin.principal, "admin", "observer")


@pytest.mark.parametrize("name", ["", "a", "has space", "-dash", "x" * 80, "semi;colon"])
async def test_bad_usernames_refused(node: HeartNode, admin: Session, name: str) -> None:
    with pytest.raises(ValidationError, match="user name"):
        await node.facade.admin.create_user(admin.principal, name, ADMIN_PASSWORD, "operator")


async def test_unknown_role_refused(node: HeartNode, admin: Session) -> None:
    with pytest.raises(ValidationError, match="unknown role 'root'"):
        await node.facade.admin.create_user(admin.principal, "dave", ADMIN_PASSWORD, "root")
