"""Approving through a capability: single-use, for one patch, refused on replay, and out
of an observer's reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.errors import AuthenticationError, PermissionDeniedError
from chimera_engine.node import HeartNode
from chimera_engine.patches.generator import GenerationPolicy
from chimera_engine.patches.models import PatchState
from chimera_engine.security.manager import Session
from tests.patches.conftest_helpers import FIX, ScriptedProvider, make_workspace

PASSWORD = "correct horse battery"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, Session]]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=make_workspace(tmp_path / "ws"),
        use_default_file=False,
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_TOOLS__WATCH": "false"},
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        yield node, admin


async def test_capability_approves_once(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    node.use_provider(ScriptedProvider([FIX]), GenerationPolicy())  # type: ignore[arg-type]
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.patch is not None and outcome.patch.state is PatchState.READY
    pid = outcome.patch.id

    token, cap = await node.facade.patches.approval_capability(admin.principal, pid)
    assert (cap.op, cap.obj, cap.single_use) == ("patch.approve", f"patch:{pid}", True)
    assert cap.expires_at - cap.issued_at <= 60
    with pytest.raises(PermissionDeniedError, match=f"for patch:{pid}, not patch:{pid + 1}"):
        await node.facade.patches.approve_with_capability(token, pid + 1)

    patch = await node.facade.patches.approve_with_capability(token, pid)
    assert patch.state is PatchState.APPLIED
    assert cap.jti not in {
        c.jti for c in await node.facade.admin.capabilities_in_force(admin.principal)
    }
    assert node.security.revocations.is_revoked(cap.jti)
    with pytest.raises(AuthenticationError, match="already used"):
        await node.facade.patches.approve_with_capability(token, pid)

    entries = await node.security.audit.query(AuditQuery(action_prefix="patch.approve"))
    (approval,) = [e for e in entries if e.outcome == "ok"]
    assert approval.actor == "admin" and approval.detail["capability"] == cap.jti
    denied = sorted(e.detail["reason"] for e in entries if e.outcome == "denied")
    assert len(denied) == 2, "the wrong object and the replay are audited as refusals"
    assert "already used" in denied[0] and f"not patch:{pid + 1}" in denied[1]
    issued = await node.security.audit.query(AuditQuery(action_prefix="capability.issue"))
    assert [(e.target, e.detail["jti"]) for e in issued] == [(f"patch:{pid}", cap.jti)]


async def test_observer_cannot_obtain_one(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    await node.facade.admin.create_user(admin.principal, "olga", PASSWORD, "observer")
    olga = await node.facade.sessions.login("olga", PASSWORD)
    with pytest.raises(PermissionDeniedError):
        await node.facade.patches.approval_capability(olga.principal, 1)
    assert await node.facade.admin.capabilities_in_force(admin.principal) == []


async def test_the_consoles_capability_works_over_http_once(tmp_path: Path) -> None:
    """The token the console obtains is the one remote nodes send: the API accepts it."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=make_workspace(tmp_path / "ws"),
        use_default_file=False,
        env={"CHIMERA_API__PORT": "0", "CHIMERA_TOOLS__WATCH": "false"},
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        node.use_provider(ScriptedProvider([FIX]), GenerationPolicy())  # type: ignore[arg-type]
        outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
        assert outcome.patch is not None
        pid = outcome.patch.id
        token, _cap = await node.facade.patches.approval_capability(admin.principal, pid)
        assert node.api is not None
        async with httpx.AsyncClient(base_url=node.api.url, timeout=60) as client:
            url = f"/api/patches/{pid}/approve"
            approved = await client.post(url, headers={"X-Capability": token})
            assert approved.status_code == 200, approved.text
            assert approved.json()["patch"]["state"] == "applied"
            again = await client.post(url, headers={"X-Capability": token})
            assert again.status_code == 401, again.text
