"""The HTTP API over a real server on loopback: happy paths, bad input, the role matrix."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from tests.conftest import ADMIN_PASSWORD, GREETER_V1, write_module


class Api:
    def __init__(self, node: HeartNode, client: httpx.AsyncClient) -> None:
        self.node = node
        self.client = client
        self.tokens: dict[str, str] = {}

    async def login(self, user: str, password: str = ADMIN_PASSWORD) -> str:
        r = await self.client.post("/api/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    workspace = tmp_path / "ws"
    write_module(workspace, "greeter", GREETER_V1)
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        env={
            "CHIMERA_API__PORT": "0",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_TOOLS__TRUST_AFTER": "0",  # versions replaced within milliseconds
            "CHIMERA_RATELIMIT__LOGIN_PER_MINUTE": "60",
        },
        use_default_file=False,
    )
    async with HeartNode(settings) as node:
        assert node.api is not None
        await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        async with httpx.AsyncClient(base_url=node.api.url, timeout=10) as client:
            yield Api(node, client)


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code:
        assert body["error"]["code"] == code
    return dict(body["error"])


# -- sessions ------------------------------------------------------------------------------


async def test_health_and_login_shape(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    r = await api.client.post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900


async def test_token_verify_refresh_logout(api: Api) -> None:
    r = await api.client.post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    tokens = r.json()
    v = await api.client.post("/api/auth/token/verify", json={"token": tokens["access_token"]})
    assert v.json()["valid"] is True and v.json()["role"] == "admin"
    fresh = await api.client.post(
        "/api/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert fresh.status_code == 200
    new = fresh.json()
    out = await api.client.post(
        "/api/auth/logout",
        json={"refresh_token": new["refresh_token"]},
        headers=api.auth(new["access_token"]),
    )
    assert out.status_code == 204
    assert_error(await api.client.get("/api/tools", headers=api.auth(new["access_token"])), 401)
    assert_error(
        await api.client.post("/api/auth/token/verify", json={"token": new["access_token"]}), 401
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "credentials required"),
        ({"Authorization": "Bearer nonsense"}, "malformed"),
        ({"Authorization": "Bearer a.b.c"}, ""),
        ({"X-API-Key": "chk_00000000_nope"}, "unknown API key"),
        ({"Authorization": "Basic YWRtaW46eA=="}, "credentials required"),
    ],
)
async def test_bad_credentials_refused(api: Api, headers: dict[str, str], message: str) -> None:
    err = assert_error(await api.client.get("/api/tools", headers=headers), 401)
    assert message in err["message"]


async def test_alg_none_token_refused_and_audited(api: Api) -> None:
    import base64

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    now = int(time.time())
    forged = (
        b64({"alg": "none", "typ": "JWT"})
        + "."
        + b64(
            {
                "sub": "admin",
                "uid": 1,
                "role": "admin",
                "typ": "access",
                "iss": "chimera",
                "aud": "chimera",
                "jti": "x",
                "iat": now,
                "nbf": now,
                "exp": now + 60,
            }
        )
        + "."
    )
    assert_error(await api.client.get("/api/tools", headers=api.auth(forged)), 401)
    entries = await api.node.security.audit.query(
        __import__("chimera_engine.audit.store", fromlist=["AuditQuery"]).AuditQuery(
            action_prefix="auth.token"
        )
    )
    assert entries and entries[0].outcome == "denied"


async def test_malformed_bodies(api: Api) -> None:
    assert_error(await api.client.post("/api/auth/login", content=b"{nope"), 400, "invalid")
    err = assert_error(
        await api.client.post("/api/auth/login", json={"username": "a", "password": "b", "x": 1}),
        400,
    )
    assert "unknown field 'x'" in err["message"]
    err = assert_error(
        await api.client.post("/api/auth/login", json={"username": 5, "password": "b"}), 400
    )
    assert "username: expected string" in err["message"]
    assert_error(await api.client.post("/api/auth/login", json=["a"]), 400)
    err = assert_error(await api.client.post("/api/auth/login", json={"username": "a"}), 400)
    assert "missing field 'password'" in err["message"]


async def test_oversized_body(api: Api) -> None:
    token = await api.login("admin")
    big = {"tool": "greet", "args": {"name": "x" * (2 << 20)}}
    assert_error(
        await api.client.post("/api/tools/call", json=big, headers=api.auth(token)),
        413,
        "too_large",
    )


async def test_unknown_route_and_method(api: Api) -> None:
    assert_error(await api.client.get("/api/nowhere"), 404)
    r = await api.client.delete("/api/tools")
    assert_error(r, 405)
    assert "GET" in r.headers.get("Allow", "")


# -- keys and capabilities -----------------------------------------------------------------


async def test_api_key_lifecycle_over_http(api: Api) -> None:
    token = await api.login("admin")
    r = await api.client.post(
        "/api/keys/create",
        headers=api.auth(token),
        json={
            "name": "ci",
            "role": "api_client",
            "scopes": ["tool.read", "tool.call"],
            "expires_in": 3600,
            "rate_limit": 600,
        },
    )
    assert r.status_code == 201
    plaintext = r.json()["api_key"]
    key = r.json()["key"]
    listed = (await api.client.get("/api/keys", headers=api.auth(token))).json()["keys"]
    assert plaintext not in json.dumps(listed) and listed[0]["prefix"] == key["prefix"]
    for headers in ({"X-API-Key": plaintext}, {"Authorization": f"Bearer {plaintext}"}):
        tools = await api.client.get("/api/tools", headers=headers)
        assert tools.status_code == 200 and tools.json()["tools"][0]["name"] == "greet"
    called = await api.client.post(
        "/api/tools/call",
        headers={"X-API-Key": plaintext},
        json={"tool": "greet", "args": {"name": "api"}},
    )
    assert called.json() == {"result": "hello api!"}
    assert_error(await api.client.get("/api/audit", headers={"X-API-Key": plaintext}), 403)
    revoked = await api.client.post(f"/api/keys/{key['id']}/revoke", headers=api.auth(token))
    assert revoked.json()["key"]["state"] == "revoked"
    assert_error(await api.client.get("/api/tools", headers={"X-API-Key": plaintext}), 401)
    assert_error(await api.client.post("/api/keys/abc/revoke", headers=api.auth(token)), 400)
    assert_error(await api.client.post("/api/keys/999/revoke", headers=api.auth(token)), 404)


async def test_capability_replaces_login_for_one_operation(api: Api) -> None:
    token = await api.login("admin")
    r = await api.client.post(
        "/api/capabilities",
        headers=api.auth(token),
        json={"permission": "tool.reload", "object": "greeter"},
    )
    cap = r.json()["token"]
    ok = await api.client.post(
        "/api/reload/module", headers={"X-Capability": cap}, json={"module": "greeter"}
    )
    assert ok.status_code == 200, ok.text
    replay = await api.client.post(
        "/api/reload/module", headers={"X-Capability": cap}, json={"module": "greeter"}
    )
    assert_error(replay, 401)
    other = await api.client.post(
        "/api/capabilities",
        headers=api.auth(token),
        json={"permission": "tool.reload", "object": "greeter", "single_use": False},
    )
    wide = other.json()["token"]
    err = assert_error(
        await api.client.post(
            "/api/reload/module", headers={"X-Capability": wide}, json={"module": "other"}
        ),
        403,
    )
    assert "not other" in err["message"]
    assert_error(await api.client.get("/api/tools", headers={"X-Capability": wide}), 401)


# -- tools, reload, audit, metrics -----------------------------------------------------------


async def test_tools_and_reload_routes(api: Api) -> None:
    h = api.auth(await api.login("admin"))
    stats = (await api.client.get("/api/reload/stats", headers=h)).json()
    assert stats["modules"] == 1 and stats["tools"] == 1
    path = api.node.settings.workspace_path / "tools" / "greeter.py"
    path.write_text(GREETER_V1.replace('"hello', '"hey'))
    r = await api.client.post("/api/reload/module", headers=h, json={"module": "greeter"})
    assert r.json()["ok"] and r.json()["version"] == 2
    versions = (await api.client.get("/api/tools/greeter/versions", headers=h)).json()["versions"]
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["active"]
    back = await api.client.post("/api/tools/greeter/rollback", headers=h)
    assert back.json()["origin"] == "rollback"
    act = await api.client.post("/api/tools/greeter/activate", headers=h, json={"version": 2})
    assert act.json()["ok"]
    path.write_text("def broken(:\n")
    refused = await api.client.post("/api/reload/module", headers=h, json={"module": "greeter"})
    assert refused.status_code == 422 and "SyntaxError" in refused.json()["reason"]
    err = assert_error(
        await api.client.post("/api/reload/module", headers=h, json={"module": "../../etc/passwd"}),
        400,
    )
    assert "not a valid tool module name" in err["message"]
    assert_error(await api.client.get("/api/tools/..%2Fetc/versions", headers=h), 400)
    crash = await api.client.post(
        "/api/tools/call", headers=h, json={"tool": "greet", "args": {"name": 1}}
    )
    assert_error(crash, 400)


async def test_audit_and_metrics_routes(api: Api) -> None:
    h = api.auth(await api.login("admin"))
    entries = (await api.client.get("/api/audit?action=auth.&limit=5", headers=h)).json()["entries"]
    assert entries and all(e["action"].startswith("auth.") for e in entries)
    assert_error(await api.client.get("/api/audit?limit=x", headers=h), 400)
    verified = (await api.client.post("/api/audit/verify", headers=h)).json()
    assert verified["ok"] and "intact" in verified["summary"]
    assert_error(await api.client.get("/metrics"), 401)
    metrics = await api.client.get("/metrics", headers=h)
    assert metrics.status_code == 200 and "chimera_engine_up 1.0" in metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")


async def test_login_flood_is_limited_while_others_are_served(api: Api) -> None:
    statuses = []
    for _ in range(40):
        r = await api.client.post(
            "/api/auth/login", json={"username": "ghost", "password": "wrong password!"}
        )
        statuses.append(r.status_code)
    assert 429 in statuses
    limited = next(
        r
        for r in [
            await api.client.post("/api/auth/login", json={"username": "zed", "password": "p"})
        ]
    )
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    # an authenticated client is counted on its own bucket and keeps being served
    token = await api.node.facade.sessions.login("admin", ADMIN_PASSWORD)
    r = await api.client.get("/api/tools", headers=api.auth(token.tokens.access_token))
    assert r.status_code == 200


# -- the contract ------------------------------------------------------------------------------


async def test_openapi_matches_routes(api: Api) -> None:
    doc = (await api.client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    registered = {
        (r.method, r.resource.canonical)
        for r in api.node.api._runner.app.router.routes()  # type: ignore[union-attr]
        if r.method != "HEAD" and r.resource is not None and r.resource.canonical != "/ws"
    }
    assert documented == registered
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["summary"] and "400" in op["responses"], path
