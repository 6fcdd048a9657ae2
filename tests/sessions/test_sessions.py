"""Sessions end when their user changes, whichever process makes the change.

The attacker's view: a disabled, deleted, demoted or re-passworded user keeps a
token and a WebSocket; the operator changes the account with the real
``chimera`` CLI while the engine serves. Both must stop within a second.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from tests.conftest import ADMIN_PASSWORD


class Served:
    def __init__(self, node: HeartNode, client: httpx.AsyncClient, data_dir: Path) -> None:
        self.node = node
        self.client = client
        self.data_dir = data_dir

    async def login(self, user: str, password: str = ADMIN_PASSWORD) -> dict[str, Any]:
        r = await self.client.post("/api/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def cli(self, *args: str, stdin: str = "") -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "chimera_engine",
            "--data-dir",
            str(self.data_dir),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
        assert proc.returncode == 0, (out, err)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    data_dir = tmp_path / "data"
    settings = load_settings(
        data_dir=data_dir,
        workspace=tmp_path / "ws",
        env={"CHIMERA_API__PORT": "0", "CHIMERA_TOOLS__WATCH": "false"},
        use_default_file=False,
    )
    async with HeartNode(settings) as node:
        assert node.api is not None
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        await node.facade.admin.create_user(admin.principal, "victim", ADMIN_PASSWORD, "operator")
        async with httpx.AsyncClient(base_url=node.api.url, timeout=10) as client:
            yield Served(node, client, data_dir)


async def _refused_within(served: Served, token: str, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        r = await served.client.get("/api/tools", headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 401:
            return time.monotonic() - started
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"token still accepted {seconds} s after the change")


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("user", "disable", "victim"), ""),
        (("user", "passwd", "victim"), "another horse battery\n"),
        (("user", "role", "victim", "observer"), ""),
        (("user", "delete", "victim"), ""),
    ],
    ids=["disable", "passwd", "role", "delete"],
)
async def test_cli_change_ends_tokens_refresh_and_websocket(
    served: Served, args: tuple[str, ...], stdin: str
) -> None:
    tokens = await served.login("victim")
    assert served.node.api is not None
    ws_url = served.node.api.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"type": "authenticate", "token": tokens["access_token"]})
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "authenticated"
        await ws.send_json({"type": "subscribe", "topics": ["tools"]})
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "subscribed"

        await served.cli(*args, stdin=stdin)  # another process changes the user
        elapsed = await _refused_within(served, tokens["access_token"], 1.0)
        assert elapsed < 1.0
        msg = await ws.receive(timeout=1.0)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        # 1008 is sent; on a loaded machine the transport may be gone before it is read
        assert ws.close_code in (
            aiohttp.WSCloseCode.POLICY_VIOLATION,
            aiohttp.WSCloseCode.ABNORMAL_CLOSURE,
        )
    refreshed = await served.client.post(
        "/api/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401


async def test_reused_refresh_token_ends_the_family(served: Served) -> None:
    first = await served.login("victim")
    rotated = await served.client.post(
        "/api/auth/token/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert rotated.status_code == 200
    current = rotated.json()
    # the stolen copy of the first refresh token comes back
    reuse = await served.client.post(
        "/api/auth/token/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reuse.status_code == 401
    for token, kind in ((current["refresh_token"], "refresh"), (current["access_token"], "")):
        if kind:
            r = await served.client.post("/api/auth/token/refresh", json={"refresh_token": token})
        else:
            r = await served.client.get("/api/tools", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (kind, r.text)
    # another login of the same user is a different family and still works
    other = await served.login("victim")
    ok = await served.client.get(
        "/api/tools", headers={"Authorization": f"Bearer {other['access_token']}"}
    )
    assert ok.status_code == 200


async def test_logout_without_body_ends_the_refresh_token(served: Served) -> None:
    tokens = await served.login("victim")
    out = await served.client.post(
        "/api/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert out.status_code == 204, out.text
    r = await served.client.post(
        "/api/auth/token/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert r.status_code == 401


async def test_logout_closes_the_websocket(served: Served) -> None:
    tokens = await served.login("victim")
    assert served.node.api is not None
    ws_url = served.node.api.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"type": "authenticate", "token": tokens["access_token"]})
        await ws.receive(timeout=5)
        await ws.send_json({"type": "subscribe", "topics": ["tools"]})
        await ws.receive(timeout=5)
        out = await served.client.post(
            "/api/auth/logout", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert out.status_code == 204
        msg = await ws.receive(timeout=1.0)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_websocket_messages_share_the_rest_limits(served: Served) -> None:
    tokens = await served.login("admin")
    assert served.node.api is not None
    ws_url = served.node.api.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"type": "authenticate", "token": tokens["access_token"]})
        await ws.receive(timeout=5)
        started = time.monotonic()
        for i in range(150):
            await ws.send_json({"type": "reload_module", "module": "nope", "id": i})
        codes = []
        for _ in range(150):
            codes.append(json.loads((await ws.receive(timeout=10)).data).get("code"))
        elapsed = time.monotonic() - started
        limited = codes.count("rate_limited")
        write = served.node.security.rate_limiter.limits["write"]
        # at most the burst plus what the bucket refilled meanwhile went through
        assert limited >= 150 - write.burst - int(write.rate * elapsed) - 1, (elapsed, codes)
        assert limited > 0


async def test_capabilities_are_bounded_and_die_with_their_issuer(served: Served) -> None:
    admin = await served.login("admin")
    await served.node.facade.admin.create_user(
        served.node.security.principal_from_token(admin["access_token"]),
        "viewer",
        ADMIN_PASSWORD,
        "observer",
    )
    viewer = await served.login("viewer")
    victim = await served.login("victim")

    def auth(tokens: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    # an observer holds engine.status but may not grant it on everything, nor for a day
    wide = await served.client.post(
        "/api/capabilities",
        headers=auth(viewer),
        json={"permission": "engine.status", "object": "*", "single_use": False},
    )
    assert wide.status_code == 403, wide.text
    long = await served.client.post(
        "/api/capabilities",
        headers=auth(victim),
        json={"permission": "tool.reload", "object": "greeter", "ttl": 86_400},
    )
    assert long.status_code == 400, long.text
    # nor grant what it does not hold
    beyond = await served.client.post(
        "/api/capabilities",
        headers=auth(viewer),
        json={"permission": "tool.reload", "object": "greeter"},
    )
    assert beyond.status_code == 403, beyond.text

    granted = await served.client.post(
        "/api/capabilities",
        headers=auth(victim),
        json={"permission": "tool.reload", "object": "greeter", "single_use": False},
    )
    assert granted.status_code == 201, granted.text
    cap = granted.json()["token"]
    listed = await served.client.get("/api/capabilities", headers=auth(admin))
    assert any(c["subject"] == "victim" for c in listed.json()["capabilities"]), listed.text

    await served.cli("user", "disable", "victim")
    await asyncio.sleep(1.0)
    used = await served.client.post(
        "/api/reload/module", headers={"X-Capability": cap}, json={"module": "greeter"}
    )
    assert used.status_code == 401, used.text
    assert "granted" in used.json()["error"]["message"]


async def test_api_key_revoked_by_another_process_closes_its_websocket(served: Served) -> None:
    admin = served.node.security.principal_from_token((await served.login("admin"))["access_token"])
    key, record = await served.node.facade.admin.create_api_key(
        admin, name="watcher", role="observer"
    )
    assert served.node.api is not None
    ws_url = served.node.api.url.replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"type": "authenticate", "token": key})
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "authenticated"
        await ws.send_json({"type": "subscribe", "topics": ["audit"]})
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "subscribed"
        # another process revokes the key straight in the shared database
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); "
            "c.execute('UPDATE api_keys SET revoked_at = ? WHERE id = ?', "
            "(time.time(), int(sys.argv[2]))); c.commit()",
            str(served.data_dir / "chimera.sqlite3"),
            str(record.id),
        )
        assert await proc.wait() == 0
        while True:  # audit events may still arrive until the close
            msg = await ws.receive(timeout=2.0)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
    r = await served.client.get("/api/tools", headers={"X-API-Key": key})
    assert r.status_code == 401


async def test_the_user_watch_reads_nothing_until_the_database_changes(served: Served) -> None:
    """Idle, the watch only compares the database files' stamp: no read off the loop.
    A change by another process (the CLI) moves the stamp and is read at the next tick."""
    security = served.node.security
    await asyncio.sleep(0.6)  # the fixture's own writes are read once
    reads = security.user_reads
    await asyncio.sleep(1.3)  # three ticks with nothing committed
    assert security.user_reads == reads
    tokens = await served.login("victim")  # a login commits (last login, audit): one read
    await served.cli("user", "disable", "victim")
    await _refused_within(served, tokens["access_token"], 1.0)
    assert security.user_reads > reads
