"""Session tokens: the lifecycle, and every kind of bad token refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import AuthenticationError
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from chimera_engine.security.secrets import derive_key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(node: HeartNode, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "chimera",
        "aud": "chimera",
        "sub": "admin",
        "uid": 1,
        "role": "admin",
        "typ": "access",
        "jti": "j-test",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


def _key(node: HeartNode) -> bytes:
    secret = bytes.fromhex(node.settings.secret_path.read_text())
    return derive_key(secret, "jwt")


async def test_jwt_lifecycle(node: HeartNode, admin: Session) -> None:
    security = node.security
    principal = security.principal_from_token(admin.tokens.access_token)
    assert principal.name == "admin"
    assert principal.role.value == "admin"
    assert admin.tokens.token_type == "Bearer"
    assert set(admin.tokens.as_dict()) == {
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
    }

    refreshed = await security.refresh(admin.tokens.refresh_token)
    assert security.principal_from_token(refreshed.tokens.access_token).name == "admin"
    with pytest.raises(AuthenticationError, match="revoked"):
        await security.refresh(admin.tokens.refresh_token)  # rotation: old refresh is spent

    await security.logout(refreshed.principal, refreshed.tokens.refresh_token)
    with pytest.raises(AuthenticationError, match="revoked"):
        security.principal_from_token(refreshed.tokens.access_token)
    with pytest.raises(AuthenticationError, match="revoked"):
        await security.refresh(refreshed.tokens.refresh_token)


async def test_revocation_survives_restart(node: HeartNode, admin: Session) -> None:
    await node.security.logout(admin.principal)
    settings = node.settings
    await node.stop()
    again = HeartNode(settings)
    await again.start()
    try:
        with pytest.raises(AuthenticationError, match="revoked"):
            again.security.principal_from_token(admin.tokens.access_token)
    finally:
        await again.stop()


BAD_TOKENS = {
    "expired": ({"exp": int(time.time()) - 60, "iat": int(time.time()) - 120}, "expired"),
    "wrong_audience": ({"aud": "someone-else"}, "audience"),
    "wrong_issuer": ({"iss": "evil"}, "issuer"),
    "not_yet_valid": ({"nbf": int(time.time()) + 600}, "not valid yet"),
    "issued_in_future": ({"iat": int(time.time()) + 600}, "not valid yet|future"),
    "refresh_as_access": ({"typ": "refresh"}, "refresh token cannot be used"),
    "missing_jti": ({"jti": None}, "jti"),
    "bad_role": ({"role": "root"}, "role"),
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
async def test_bad_claims_refused(node: HeartNode, admin: Session, kind: str) -> None:
    overrides, message = BAD_TOKENS[kind]
    claims = {k: v for k, v in _claims(node, **overrides).items() if v is not None}
    token = jwt.encode(claims, _key(node), algorithm="HS256")
    with pytest.raises(AuthenticationError, match=message):
        await node.security.authenticate_token(token)
    denied = await node.security.audit.query(AuditQuery(action_prefix="auth.token"))
    assert denied[0].outcome == "denied"


async def test_tampered_signature_refused(node: HeartNode, admin: Session) -> None:
    header, payload, signature = admin.tokens.access_token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["role"] = "admin"
    data["sub"] = "someone"
    forged = f"{header}.{_b64(json.dumps(data).encode())}.{signature}"
    with pytest.raises(AuthenticationError, match="signature"):
        node.security.principal_from_token(forged)


async def test_alg_none_refused(node: HeartNode, admin: Session) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(node)).encode())
    with pytest.raises(AuthenticationError, match="algorithm 'none'"):
        node.security.principal_from_token(f"{header}.{payload}.")


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_other_algorithm_refused(node: HeartNode, admin: Session) -> None:
    token = jwt.encode(_claims(node), _key(node), algorithm="HS512")
    with pytest.raises(AuthenticationError, match="HS512"):
        node.security.principal_from_token(token)


async def test_signed_with_other_key_refused(node: HeartNode, admin: Session) -> None:
    token = jwt.encode(_claims(node), b"x" * 32, algorithm="HS256")
    with pytest.raises(AuthenticationError, match="signature"):
        node.security.principal_from_token(token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "ey.ey.ey"])
async def test_malformed_token_refused(node: HeartNode, garbage: str) -> None:
    with pytest.raises(AuthenticationError):
        node.security.principal_from_token(garbage)


async def test_disabled_user_token_refused(node: HeartNode, admin: Session, user_factory) -> None:
    bob = await user_factory("bob", "operator")
    await node.facade.admin.set_user_disabled(admin.principal, "bob", True)
    with pytest.raises(AuthenticationError, match="disabled"):
        node.security.principal_from_token(bob.tokens.access_token)


async def test_role_change_invalidates_session(
    node: HeartNode, admin: Session, user_factory
) -> None:
    bob = await user_factory("bob", "operator")
    await node.facade.admin.set_user_role(admin.principal, "bob", "observer")
    with pytest.raises(AuthenticationError, match="role changed"):
        node.security.principal_from_token(bob.tokens.access_token)
    with pytest.raises(AuthenticationError):
        await node.facade.audit.query(bob.principal, AuditQuery())


async def test_expired_session_principal_refused(node: HeartNode, admin: Session) -> None:
    from dataclasses import replace

    stale = replace(admin.principal, expires_at=time.time() - 1)
    with pytest.raises(AuthenticationError, match="expired"):
        await node.facade.audit.query(stale, AuditQuery())


async def test_password_reset_ends_existing_sessions(
    node: HeartNode, admin: Session, user_factory
) -> None:
    bob = await user_factory("bob", "operator")
    node.security.accounts._clock = lambda: time.time() + 5  # the change happens later
    await node.facade.admin.reset_password(admin.principal, "bob", "a brand new passphrase")
    with pytest.raises(AuthenticationError, match="password changed"):
        node.security.principal_from_token(bob.tokens.access_token)
    with pytest.raises(AuthenticationError, match="password changed"):
        await node.security.refresh(bob.tokens.refresh_token)
    with pytest.raises(AuthenticationError, match="password changed"):
        await node.facade.audit.query(bob.principal, AuditQuery())


async def test_a_token_seen_before_still_expires(
    node: HeartNode, admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the second verification comes from the cache of verified tokens: its time window
    # is checked again, so a token seen while valid is refused once it has expired
    jwt_manager = node.security.jwt
    token = admin.tokens.access_token
    claims = jwt_manager.verify(token)
    assert jwt_manager.verify(token) == claims
    later = claims.expires_at + 10
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(AuthenticationError, match="expired"):
        jwt_manager.verify(token)
