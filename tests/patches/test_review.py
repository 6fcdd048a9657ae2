"""The review queue end to end: generate, test, approve, apply, watch, roll back, learn."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.errors import ConflictError, PermissionDeniedError
from chimera_engine.events import PatchChanged
from chimera_engine.node import HeartNode
from chimera_engine.patches.generator import GenerationPolicy
from chimera_engine.patches.models import PatchState
from chimera_engine.patches.providers.base import ProviderRateLimited, ProviderTimeout
from chimera_engine.patches.sandbox import PatchTester
from chimera_engine.runtime import ToolCallError
from chimera_engine.security.manager import Session
from tests.patches.conftest_helpers import FIX, WORSE, ScriptedProvider, make_workspace

PASSWORD = "correct horse battery"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, Session]]:
    workspace = make_workspace(tmp_path / "ws")
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        use_default_file=False,
        env={
            "CHIMERA_API__ENABLED": "false",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_CODEGEN__WATCH_SECONDS": "5",
            "CHIMERA_CODEGEN__WATCH_MIN_CALLS": "5",
        },
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        yield node, admin


def use(node: HeartNode, provider: ScriptedProvider, **policy: float) -> None:
    node.use_provider(provider, GenerationPolicy(**policy))  # type: ignore[arg-type]


async def fail_some_calls(node: HeartNode, admin: Session, n: int = 3) -> None:
    for _ in range(n):
        with pytest.raises(ToolCallError):
            await node.runtime.call("ratio", {"a": 1, "b": 0}, admin.principal)


async def test_failing_tool_is_fixed_end_to_end(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    await fail_some_calls(node, admin)
    provider = ScriptedProvider([FIX])
    use(node, provider)
    changes = node.bus.subscribe(PatchChanged)
    outcome = await node.facade.patches.request_patch(
        admin.principal, "mathy", note="division errors"
    )
    assert outcome.report.ok and outcome.patch is not None
    patch = outcome.patch
    assert patch.state is PatchState.READY and patch.risk == "low"
    assert "ZeroDivisionError" in provider.requests[0].prompt  # the evidence reached the model
    assert "test_ratio" in provider.requests[0].prompt  # and the existing tests
    result = patch.result or {}
    assert [t["outcome"] for t in result["fail_to_pass"]] == ["passed"]
    assert [t["outcome"] for t in result["before"]] == ["failed"]
    assert [t["outcome"] for t in result["pass_to_pass"]] == ["passed"]

    applied = await node.facade.patches.approve_patch(admin.principal, patch.id)
    assert applied.state is PatchState.APPLIED and applied.applied_version == 2
    assert await node.runtime.call("ratio", {"a": 1, "b": 0}, admin.principal) == 0.0
    on_disk = (node.settings.workspace_path / "tools" / "mathy.py").read_text()
    assert "if b == 0" in on_disk
    assert (node.settings.workspace_path / "tests" / "test_ratio_zero.py").exists()
    states = [e.state for e in [changes.get_nowait() for _ in range(len(changes))]]  # type: ignore[union-attr]
    assert states[:4] == ["proposed", "testing", "ready", "approved"] and "applied" in states
    approval = await node.security.audit.query(AuditQuery(action_prefix="patch.approve"))
    assert approval[0].detail["diff_hash"] == patch.diff_hash


async def test_rollback_on_failure(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    await fail_some_calls(node, admin)
    for a in range(1, 8):
        await node.runtime.call("ratio", {"a": a, "b": 2}, admin.principal)
    use(node, ScriptedProvider([WORSE]))
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.patch is not None and outcome.patch.state is PatchState.READY
    await node.facade.patches.approve_patch(admin.principal, outcome.patch.id)
    for a in (-5, -4, -3, -2, -1, 4):
        with contextlib.suppress(ToolCallError):
            await node.runtime.call("ratio", {"a": a, "b": 2}, admin.principal)
    for _ in range(100):
        patch, _ = await node.facade.patches.get_patch(admin.principal, outcome.patch.id)
        if patch.state is PatchState.ROLLED_BACK:
            break
        await asyncio.sleep(0.05)
    assert patch.state is PatchState.ROLLED_BACK
    assert "error rate rose" in patch.reason
    assert await node.runtime.call("ratio", {"a": -1, "b": 2}, admin.principal) == -0.5
    assert (
        "raise ValueError" not in (node.settings.workspace_path / "tools" / "mathy.py").read_text()
    )
    # The watch records the rollback in the audit log just after the state change.
    for _ in range(100):
        entries = await node.security.audit.query(AuditQuery(action_prefix="patch.rollback"))
        if entries:
            break
        await asyncio.sleep(0.05)
    assert entries[0].actor == "system:patch-watch"


async def test_pattern_learning(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    node.patches.watch_policy = type(node.patches.watch_policy)(seconds=0.2, min_calls=1)
    await fail_some_calls(node, admin)
    use(node, ScriptedProvider([FIX]))
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.patch is not None
    await node.facade.patches.approve_patch(admin.principal, outcome.patch.id)
    for _ in range(100):
        patch, _ = await node.facade.patches.get_patch(admin.principal, outcome.patch.id)
        if patch.state is PatchState.KEPT:
            break
        await asyncio.sleep(0.05)
    assert patch.state is PatchState.KEPT
    for _ in range(100):  # the pattern is stored right after the patch is marked kept
        patterns = await node.facade.patches.list_patterns(admin.principal)
        if patterns:
            break
        await asyncio.sleep(0.02)
    assert len(patterns) == 1 and patterns[0].module == "mathy"
    similar = await node.patches.patterns.similar("mathy ZeroDivisionError float division by zero")
    assert similar and similar[0].similarity > 0.3
    assert await node.patches.patterns.similar("json schema required property missing") == []
    # the next request for a similar failure shows the model the earlier fix
    provider = ScriptedProvider(["no patch here"])
    use(node, provider, max_attempts=1)
    await node.facade.patches.request_patch(
        admin.principal, "mathy", note="ZeroDivisionError again"
    )
    assert "A similar failure fixed before" in provider.requests[0].prompt


async def test_loop_guard_attempts_identical_and_cost(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    await fail_some_calls(node, admin)
    chatty = "I'd suggest checking the divisor. Hope this helps!"
    provider = ScriptedProvider([chatty, chatty, FIX])
    use(node, provider, max_attempts=3)
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert not outcome.report.ok and outcome.patch is None
    assert outcome.report.attempts == 2
    assert "repeated an earlier answer" in outcome.report.reasons[-1]
    assert "contains no patch" in provider.requests[1].prompt  # the reason was fed back

    provider = ScriptedProvider(["nope", "still nope", FIX], cost=0.6)
    use(node, provider, max_attempts=5, max_cost_usd=1.0)
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.report.attempts == 2 and "cost cap" in outcome.report.reasons[-1]


@pytest.mark.parametrize(
    ("answers", "truncated", "reason"),
    [
        ([ProviderTimeout("no answer in 120 s", provider="scripted")], [], "provider error"),
        (
            [ProviderRateLimited("429 after 4 attempts", provider="scripted", retry_after=5)],
            [],
            "429",
        ),
        ([FIX[: len(FIX) // 2]], [True], "truncated"),
    ],
)
async def test_provider_failures_apply_nothing(
    env: tuple[HeartNode, Session], answers: list[object], truncated: list[bool], reason: str
) -> None:
    node, admin = env
    use(node, ScriptedProvider(answers, truncated=truncated), max_attempts=1)  # type: ignore[arg-type]
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.patch is None and not outcome.report.ok
    assert reason in " ".join(outcome.report.reasons)
    assert node.reload.registry.active["mathy"].version == 1
    entries = await node.security.audit.query(AuditQuery(action_prefix="patch.generate"))
    assert entries[0].outcome == "error"


async def test_state_machine_and_permissions(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    use(node, ScriptedProvider([FIX]))
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.patch is not None
    pid = outcome.patch.id
    await node.facade.admin.create_user(admin.principal, "olga", PASSWORD, "observer")
    olga = await node.facade.sessions.login("olga", PASSWORD)
    with pytest.raises(PermissionDeniedError):
        await node.facade.patches.approve_patch(olga.principal, pid)
    await node.facade.patches.reject_patch(admin.principal, pid, "not the fix we want")
    with pytest.raises(ConflictError, match="rejected; it cannot become approved"):
        await node.facade.patches.approve_patch(admin.principal, pid)
    with pytest.raises(ConflictError, match="only applied patches roll back"):
        await node.facade.patches.rollback_patch(admin.principal, pid, "x")
    patch, events = await node.facade.patches.get_patch(admin.principal, pid)
    assert patch.reason == "not the fix we want"
    assert [e.state for e in events] == ["proposed", "testing", "ready", "rejected"]


async def test_operator_edit_is_retested(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    use(node, ScriptedProvider([FIX]))
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.patch is not None
    edited = FIX.replace("return 0.0", "return float('inf')").replace(
        "== 0.0\n", "== float('inf')\n"
    )
    patch = await node.facade.patches.edit_patch(admin.principal, outcome.patch.id, edited)
    assert patch.provider == "operator" and patch.state is PatchState.READY


async def test_auto_approve_policy(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    node.patches.approval = type(node.patches.approval)(auto_approve=True)
    await fail_some_calls(node, admin)
    use(node, ScriptedProvider([FIX]))
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.patch is not None and outcome.patch.state is PatchState.APPLIED
    approval = await node.security.audit.query(AuditQuery(action_prefix="patch.approve"))
    assert approval[0].actor == "system:auto-approve"
    assert "auto-approved by policy" in approval[0].detail["policy"]


async def test_reduced_sandbox_is_never_auto_approved(env: tuple[HeartNode, Session]) -> None:
    """Tested without bubblewrap (allowed by ``sandbox = "reduced"``): ready, flagged, waiting."""
    node, admin = env
    node.patches.approval = type(node.patches.approval)(auto_approve=True)
    limits = dataclasses.replace(node.patches.tester.limits, sandbox="reduced", bwrap="/no/bwrap")
    node.patches.tester = PatchTester(node.patches.tester.workspace_root, limits)
    await fail_some_calls(node, admin)
    use(node, ScriptedProvider([FIX]))
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    patch = outcome.patch
    assert patch is not None and patch.state is PatchState.READY, patch
    assert patch.result is not None and patch.result["ok"] and patch.result["reduced"]
    assert "bwrap" in patch.result["missing"]
    assert not await node.security.audit.query(AuditQuery(action_prefix="patch.approve"))
