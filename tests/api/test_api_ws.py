"""The WebSocket: authenticate first, commands, live subscriptions, slow clients dropped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chimera_engine.api import ws as ws_module
from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from tests.conftest import ADMIN_PASSWORD, GREETER_V1, write_module


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, str, str]]:
    write_module(tmp_path / "ws", "greeter", GREETER_V1)
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        use_default_file=False,
        env={"CHIMERA_API__PORT": "0", "CHIMERA_TOOLS__WATCH": "false"},
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        assert node.api is not None
        yield node, node.api.url.replace("http", "ws") + "/ws", admin.tokens.access_token


async def recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return dict(json.loads(msg.data))


async def test_must_authenticate_first(served: tuple[HeartNode, str, str]) -> None:
    _, url, _ = served
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            await ws.send_json({"type": "subscribe", "topics": ["audit"]})
            msg = await asyncio.wait_for(ws.receive(), 5)
            assert msg.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
        async with session.ws_connect(url) as ws:
            await ws.send_json({"type": "authenticate", "token": "forged.token.value"})
            await asyncio.wait_for(ws.receive(), 5)
            assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_silent_client_is_closed(
    served: tuple[HeartNode, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "AUTH_TIMEOUT_S", 0.2)
    _, url, _ = served
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION


async def test_subscriptions_and_commands(served: tuple[HeartNode, str, str]) -> None:
    node, url, token = served
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_json({"type": "authenticate", "token": token})
        assert (await recv(ws))["type"] == "authenticated"
        await ws.send_json({"type": "subscribe", "topics": ["audit", "reloads"], "id": 1})
        assert await recv(ws) == {"id": 1, "type": "subscribed", "topics": ["audit", "reloads"]}
        path = node.settings.workspace_path / "tools" / "greeter.py"
        path.write_text(GREETER_V1.replace("hello", "howdy"))
        await ws.send_json({"type": "reload_module", "module": "greeter", "id": 2})
        seen: dict[str, dict[str, Any]] = {}
        for _ in range(6):
            message = await recv(ws)
            seen[message.get("event") or message["type"]] = message
            if {"reload_result", "AuditAppended", "ModuleReloaded"} <= set(seen):
                break
        assert seen["reload_result"]["id"] == 2
        assert seen["reload_result"]["result"]["version"] == 2
        assert seen["ModuleReloaded"]["topic"] == "reloads"
        assert seen["AuditAppended"]["data"]["entry"]["action"] == "tool.reload"
        await ws.send_json({"type": "subscribe", "topics": ["secrets"]})
        assert (await recv(ws))["type"] == "error"
        await ws.send_json({"type": "warp_drive"})
        assert (await recv(ws))["code"] == "unknown_type"
        await ws.send_str("not json")
        assert (await recv(ws))["code"] == "invalid_json"


async def test_observer_cannot_subscribe_to_audit_or_reload(
    served: tuple[HeartNode, str, str],
) -> None:
    node, url, _ = served
    admin = await node.facade.sessions.login("admin", ADMIN_PASSWORD)
    await node.facade.admin.create_user(admin.principal, "obs", ADMIN_PASSWORD, "observer")
    token = (await node.facade.sessions.login("obs", ADMIN_PASSWORD)).tokens.access_token
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_json({"type": "authenticate", "token": token})
        await recv(ws)
        await ws.send_json({"type": "reload_module", "module": "greeter"})
        assert (await recv(ws))["code"] == "forbidden"
        await ws.send_json({"type": "subscribe", "topics": ["audit"]})
        reply = await recv(ws)
        assert reply["type"] == "subscribed"  # observers may read the audit log


async def test_slow_client_is_dropped_not_buffered(monkeypatch: pytest.MonkeyPatch) -> None:
    class StuckSocket:
        closed_with: int | None = None

        async def send_str(self, text: str) -> None:
            await asyncio.Event().wait()  # never drains

        async def close(self, code: int, message: bytes) -> None:
            self.closed_with = code

    monkeypatch.setattr(ws_module, "QUEUE_LIMIT", 10)
    sock = StuckSocket()
    conn = ws_module.Connection.__new__(ws_module.Connection)
    conn.ws = sock  # type: ignore[assignment]
    conn.outbox = asyncio.Queue(10)
    conn.tasks = set()
    conn.topics = set()
    conn.dropped = False
    conn.ending = None
    conn.spawn(conn.writer())
    for i in range(50):
        conn.enqueue(f"event {i}")
    await asyncio.sleep(0.01)
    assert conn.dropped
    assert sock.closed_with == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert conn.outbox.qsize() <= 10
    await conn.close()
