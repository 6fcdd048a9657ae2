"""Settings through the facade: who may read and change them, what applies at once,
what is audited, and "test connection" against a real server on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.errors import ConfigError, PermissionDeniedError
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from chimera_engine.security.secretstore import FILE_NAME
from tests.patches.fakes import openai_sse, serve_loopback, stream_events

KEY = "sk-test-SECRETSECRET0123456789"


@pytest.fixture
async def cnode(tmp_path: Path) -> AsyncIterator[HeartNode]:
    """An engine whose settings come from a file it may write back to."""
    config = tmp_path / "config.toml"
    config.write_text(
        '# hand-written\n[codegen]\nmax_attempts = 2  # keep it cheap\nprovider = "ollama"\n'
        'model = "llama3"\n'
    )
    settings = load_settings(
        config_path=config,
        data_dir=tmp_path / "data",
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_SWARM__ENABLED": "false"},
    )
    async with HeartNode(settings) as node:
        yield node


@pytest.fixture
async def root(cnode: HeartNode) -> Session:
    return await cnode.facade.sessions.create_first_admin("root", "correct horse battery")


async def login_as(node: HeartNode, admin: Session, name: str, role: str) -> Session:
    await node.facade.admin.create_user(admin.principal, name, "correct horse battery", role)
    return await node.facade.sessions.login(name, "correct horse battery")


async def audit_text(node: HeartNode) -> str:
    entries = await node.security.audit.query(AuditQuery(limit=1000))
    return json.dumps([[e.action, e.target, e.outcome, e.detail] for e in entries], default=str)


# ---- a fake OpenAI server: the key, the model and the wire format are checked ---------------


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if request.headers.get("Authorization") != f"Bearer {KEY}":
        error = {"message": "Incorrect API key provided", "type": "invalid_request_error"}
        return web.json_response({"error": {**error, "code": "invalid_api_key"}}, status=401)
    if body["model"] != "gpt-4o-mini":
        error = {"message": f"The model `{body['model']}` does not exist", "type": "invalid"}
        return web.json_response({"error": {**error, "code": "model_not_found"}}, status=404)
    return await stream_events(request, openai_sse(["ok"], usage=(19, 1)))


@pytest.fixture
async def fake_openai() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    async with serve_loopback(app) as url:
        yield f"{url}/v1"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- tests ----------------------------------------------------------------------------------


async def test_only_admins_change_settings_but_every_role_reads_them(
    cnode: HeartNode, root: Session
) -> None:
    facade = cnode.facade
    for role in ("operator", "observer"):
        session = await login_as(cnode, root, f"{role}1", role)
        view = await facade.settings.get_settings(session.principal)
        assert view.value("codegen.max_attempts") == 2
        who = session.principal
        calls: list[Coroutine[Any, Any, object]] = [
            facade.settings.update_settings(who, {"api": {"port": 9999}}),
            facade.settings.set_provider_key(who, "openai", KEY),
            facade.settings.clear_provider_key(who, "openai"),
            facade.settings.test_provider(who, {}),
        ]
        for call in calls:
            with pytest.raises(PermissionDeniedError, match=r"settings\.manage"):
                await call
    assert "api" not in (cnode.settings.config_path or Path()).read_text()
    text = await audit_text(cnode)
    assert text.count('"denied"') >= 8


async def test_saving_writes_the_file_applies_live_keys_and_keeps_the_rest_for_restart(
    cnode: HeartNode, root: Session
) -> None:
    facade, p = cnode.facade, root.principal
    old_data_dir = cnode.settings.data_dir
    assert cnode.generator().provider.model == "llama3"
    change = await facade.settings.update_settings(
        p,
        {
            "codegen": {
                "auto_approve": True,
                "auto_approve_max_lines": 5,
                "watch_seconds": 30.0,
                "provider": "openai-compatible",
                "model": "qwen2.5-coder",
                "base_url": "http://127.0.0.1:8080/v1",
            },
            "metrics": {"latency_threshold_ms": 250.0},
            "api": {"port": 9001},
            "engine": {"data_dir": "/srv/elsewhere"},
            "swarm": {"backend": "dask", "scheduler_address": "tcp://10.1.2.3:8786"},
        },
    )
    assert set(change.applied) == {
        "codegen.auto_approve",
        "codegen.auto_approve_max_lines",
        "codegen.watch_seconds",
        "codegen.provider",
        "codegen.model",
        "codegen.base_url",
        "metrics.latency_threshold_ms",
    }
    assert set(change.at_restart) == {
        "api.port",
        "engine.data_dir",
        "swarm.backend",
        "swarm.scheduler_address",
    }
    # live: the policy, the watch window, the thresholds and the next provider
    assert cnode.patches.approval.auto_approve and cnode.patches.approval.max_changed_lines == 5
    assert cnode.patches.watch_policy.seconds == 30.0
    assert cnode.tool_collector is not None
    assert cnode.tool_collector.thresholds["tool.latency_ms"] == 250.0
    assert cnode.generators.built is None
    assert cnode.generator().provider.model == "qwen2.5-coder"
    # at the next start: the running engine keeps its data dir, the view shows what is saved
    assert cnode.settings.data_dir == old_data_dir and cnode.settings.api.port != 9001
    assert change.view.value("engine.data_dir") == "/srv/elsewhere"
    assert "api.port" in change.view.pending_restart
    saved = load_settings(config_path=cnode.settings.config_path, env={})
    assert (saved.api.port, saved.codegen.model, saved.codegen.max_attempts) == (
        9001,
        "qwen2.5-coder",
        2,
    )
    assert "max_attempts = 2  # keep it cheap" in (cnode.settings.config_path or Path()).read_text()
    # a second save of the same values changes nothing; going back clears the pending mark
    again = await facade.settings.update_settings(p, {"api": {"port": 9001}})
    assert again.changed == ()
    back = await facade.settings.update_settings(p, {"api": {"port": cnode.settings.api.port}})
    assert back.changed == ("api.port",) and "api.port" not in back.view.pending_restart
    text = await audit_text(cnode)
    assert "settings.update" in text and "codegen.auto_approve" in text and "api.port" in text


async def test_an_invalid_change_saves_and_applies_nothing(cnode: HeartNode, root: Session) -> None:
    before = (cnode.settings.config_path or Path()).read_text()
    with pytest.raises(ConfigError, match=r"swarm\.scheduler_address"):
        await cnode.facade.settings.update_settings(
            root.principal, {"codegen": {"auto_approve": True}, "swarm": {"backend": "dask"}}
        )
    assert (cnode.settings.config_path or Path()).read_text() == before
    assert not cnode.patches.approval.auto_approve


async def test_keys_are_stored_encrypted_and_never_audited(
    cnode: HeartNode, root: Session, fake_openai: str
) -> None:
    facade, p = cnode.facade, root.principal
    status = await facade.settings.set_provider_key(p, "openai", KEY)
    assert status.stored and status.env_var == "OPENAI_API_KEY"
    view = await facade.settings.get_settings(p)
    assert view.keys["openai"].stored and not view.keys["anthropic"].stored
    assert view.key_backend == "encrypted file"
    assert KEY not in json.dumps(view.values)
    assert KEY.encode() not in (cnode.settings.data_dir / FILE_NAME).read_bytes()
    # the stored key is what the provider uses
    report = await facade.settings.test_provider(
        p, {"provider": "openai", "base_url": fake_openai, "model": ""}
    )
    assert report.ok, report.message
    assert report.kind == "ok" and "answered 'ok' in" in report.message
    cleared = await facade.settings.clear_provider_key(p, "openai")
    assert not cleared.stored
    text = await audit_text(cnode)
    assert "settings.key_set" in text and "settings.key_clear" in text
    assert KEY not in text and "SECRETSECRET" not in text
    assert KEY not in (cnode.settings.config_path or Path()).read_text()


async def test_test_connection_reports_ok_bad_key_unknown_model_and_unreachable(
    cnode: HeartNode, root: Session, fake_openai: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    facade, p = cnode.facade, root.principal
    openai = {"provider": "openai", "base_url": fake_openai, "model": ""}
    ok = await facade.settings.test_provider(p, openai, api_key=KEY)
    assert (ok.ok, ok.kind, ok.provider) == (True, "ok", "openai")

    no_key = await facade.settings.test_provider(p, openai)
    assert (no_key.ok, no_key.kind) == (False, "auth")
    assert no_key.message.startswith("No API key") and "OPENAI_API_KEY" in no_key.message

    bad = await facade.settings.test_provider(p, openai, api_key="sk-wrong-0000000000000000")
    assert (bad.ok, bad.kind) == (False, "auth")
    assert "refused" in bad.message and "401" in bad.message

    model = await facade.settings.test_provider(p, {**openai, "model": "gpt-9"}, api_key=KEY)
    assert (model.ok, model.kind) == (False, "model")
    assert "'gpt-9'" in model.message

    gone = f"http://127.0.0.1:{closed_port()}/v1"
    down = await facade.settings.test_provider(
        p, {**openai, "base_url": gone}, api_key=KEY, timeout=5.0
    )
    assert (down.ok, down.kind) == (False, "unreachable")
    assert "cannot be reached" in down.message

    local = {"provider": "openai-compatible", "base_url": gone, "model": "qwen"}
    down2 = await facade.settings.test_provider(p, local, timeout=5.0)
    assert (down2.ok, down2.kind) == (False, "unreachable")

    bad_config = await facade.settings.test_provider(p, {"provider": "ollama", "model": ""})
    assert (bad_config.ok, bad_config.kind) == (False, "config")
    assert "needs a model name" in bad_config.message

    text = await audit_text(cnode)
    assert text.count("settings.test_provider") == 7
    assert KEY not in text and "sk-wrong" not in text
