"""Abuse of the HTTP API from one source: bad input that once gave 500s, and floods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from tests.conftest import ADMIN_PASSWORD


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, httpx.AsyncClient, str]]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        env={"CHIMERA_API__PORT": "0", "CHIMERA_TOOLS__WATCH": "false"},
        use_default_file=False,
    )
    async with HeartNode(settings) as node:
        assert node.api is not None
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        async with httpx.AsyncClient(base_url=node.api.url, timeout=10) as client:
            yield node, client, admin.tokens.access_token


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": b"Bearer \xc3\xa9t\xc3\xa9.a.b"},
        {"Authorization": b"Bearer \xff\xfe.x.y"},
        {"X-API-Key": b"chk_\xe9_x"},
        {"X-Capability": b"\xe9.a.b"},
    ],
    ids=["utf8", "latin1", "api-key", "capability"],
)
async def test_non_ascii_credentials_are_401_not_500(
    api: tuple[HeartNode, httpx.AsyncClient, str], headers: dict[str, bytes]
) -> None:
    _, client, _ = api
    r = await client.get("/api/tools", headers=headers)
    assert r.status_code in (401, 403), r.text


async def test_deeply_nested_json_is_400(api: tuple[HeartNode, httpx.AsyncClient, str]) -> None:
    _, client, token = api
    deep = "[" * 5000 + "]" * 5000
    body = '{"username": ' + deep + ', "password": "x"}'
    anonymous = await client.post(
        "/api/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert anonymous.status_code == 400, anonymous.text
    authed = await client.post(
        "/api/auth/logout",
        content='{"refresh_token": ' + deep + "}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert authed.status_code == 400, authed.text
    assert "nested" in authed.json()["error"]["message"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_refused(
    api: tuple[HeartNode, httpx.AsyncClient, str], constant: str
) -> None:
    _, client, _ = api
    r = await client.post(
        "/api/auth/login",
        content='{"username": "admin", "password": ' + constant + "}",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text
    assert constant.lstrip("-") in r.json()["error"]["message"]


async def test_huge_before_is_400(api: tuple[HeartNode, httpx.AsyncClient, str]) -> None:
    _, client, token = api
    for value in (str(2**63), str(2**64), "-1"):
        r = await client.get(
            "/api/audit", params={"before": value}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 400, (value, r.text)


async def test_forged_token_flood_is_limited_and_audited_once(
    api: tuple[HeartNode, httpx.AsyncClient, str],
) -> None:
    node, client, token = api
    before = len(await node.security.audit.query(AuditQuery(limit=10_000)))
    bad = {"Authorization": "Bearer aaa.bbb.ccc"}
    statuses: list[int] = []
    for _ in range(6):  # six waves of 25 concurrent requests
        wave = await asyncio.gather(*(client.get("/api/tools", headers=bad) for _ in range(25)))
        statuses.extend(r.status_code for r in wave)
    burst = node.security.rate_limiter.limits["auth_failure"].burst
    assert statuses.count(401) <= burst + 2, statuses
    assert set(statuses) <= {401, 429}
    await node.security.audit.flush()
    entries = await node.security.audit.query(AuditQuery(limit=10_000))
    written = len(entries) - before
    # a handful of refused credentials, then one aggregated entry for the burst
    assert written <= 20, written
    flood = [e for e in entries if e.action == "ratelimit.exceeded"]
    assert len(flood) == 1 and flood[0].actor == "ip:127.0.0.1"
    # good credentials from the same address (say, another agent on this host) still work
    r = await client.get("/api/tools", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


async def test_database_and_data_dir_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    settings = load_settings(
        data_dir=data, env={"CHIMERA_API__ENABLED": "false"}, use_default_file=False
    )
    async with HeartNode(settings):
        pass
    assert data.stat().st_mode & 0o777 == 0o700
    assert settings.database_path.stat().st_mode & 0o777 == 0o600


async def test_observer_sees_no_paths_nor_typed_names(
    api: tuple[HeartNode, httpx.AsyncClient, str],
) -> None:
    node, client, token = api
    admin = node.security.principal_from_token(token)
    await node.facade.admin.create_user(admin, "watcher", ADMIN_PASSWORD, "observer")
    typo = "admin correct horse"  # a password typed into the user name field
    r = await client.post("/api/auth/login", json={"username": typo, "password": "x"})
    assert r.status_code == 401
    observer = (
        await client.post(
            "/api/auth/login", json={"username": "watcher", "password": ADMIN_PASSWORD}
        )
    ).json()["access_token"]
    status = await client.get("/api/status", headers={"Authorization": f"Bearer {observer}"})
    assert status.status_code == 200
    assert str(node.settings.data_dir) not in status.text
    assert str(node.settings.workspace_path) not in status.text
    as_admin = await client.get("/api/status", headers={"Authorization": f"Bearer {token}"})
    assert str(node.settings.data_dir) in as_admin.text
    seen = await client.get("/api/audit", headers={"Authorization": f"Bearer {observer}"})
    assert seen.status_code == 200 and typo not in seen.text
    seen_by_admin = await client.get("/api/audit", headers={"Authorization": f"Bearer {token}"})
    assert typo in seen_by_admin.text


@pytest.mark.parametrize("name", ["nul\x00key", "evil\u202egnp.exe", "<b>bold</b>", "bell\x07"])
async def test_names_refuse_control_bidi_and_markup(
    api: tuple[HeartNode, httpx.AsyncClient, str], name: str
) -> None:
    _, client, token = api
    r = await client.post(
        "/api/keys/create",
        json={"name": name, "role": "observer"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 400, r.text


async def test_admin_sees_and_clears_login_throttles(
    api: tuple[HeartNode, httpx.AsyncClient, str],
) -> None:
    node, client, token = api
    for _ in range(3):
        await node.security.accounts.throttle.failed("ops", "api:198.51.100.7")
    auth = {"Authorization": f"Bearer {token}"}
    listed = await client.get("/api/auth/throttles", headers=auth)
    assert listed.status_code == 200
    rows = listed.json()["throttles"]
    assert [(r["account"], r["source"], r["failures"]) for r in rows] == [
        ("ops", "api:198.51.100.7", 3)
    ]
    cleared = await client.post("/api/auth/throttles/clear", json={"account": "OPS"}, headers=auth)
    assert cleared.json() == {"cleared": 1}
    assert (await client.get("/api/auth/throttles", headers=auth)).json()["throttles"] == []
    entries = await node.security.audit.query(AuditQuery(action_prefix="auth.throttle_clear"))
    assert entries and entries[0].target == "OPS"


async def test_token_verify_flood_is_limited_like_other_credentials(
    api: tuple[HeartNode, httpx.AsyncClient, str],
) -> None:
    node, client, _ = api
    statuses = []
    for _ in range(40):
        r = await client.post("/api/auth/token/verify", json={"token": "aaa.bbb.ccc"})
        statuses.append(r.status_code)
    burst = node.security.rate_limiter.limits["auth_failure"].burst
    assert statuses.count(401) <= burst + 1 and statuses.count(429) >= 40 - burst - 1, statuses
