"""Hunk-level accept: a patch narrowed to some hunks is re-tested in the sandbox, the
original is superseded by it, and subsets that cannot work are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.errors import ConflictError, PermissionDeniedError
from chimera_engine.modules.models import Origin
from chimera_engine.node import HeartNode
from chimera_engine.patches.generator import GenerationPolicy
from chimera_engine.patches.hunks import keep_hunks, module_hunks
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.patches.patchformat import PatchFormatError
from chimera_engine.security.manager import Session
from tests.patches.conftest_helpers import (
    TOOLS,
    TWO_HUNKS,
    ScriptedProvider,
    make_two_tool_workspace,
)

PASSWORD = "correct horse battery"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, Session]]:
    root = make_two_tool_workspace(tmp_path / "ws")
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=root,
        use_default_file=False,
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_TOOLS__WATCH": "false"},
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        yield node, admin


async def two_hunk_patch(node: HeartNode, admin: Session) -> Patch:
    """The two-hunk patch, refused by the sandbox: hunk 2 breaks an existing test."""
    node.use_provider(ScriptedProvider([TWO_HUNKS]), GenerationPolicy(max_attempts=1))  # type: ignore[arg-type]
    outcome = await node.facade.patches.request_patch(admin.principal, "mathy")
    assert outcome.patch is not None
    assert outcome.patch.state is PatchState.REJECTED
    assert "test_half" in outcome.patch.reason or "PASS_TO_PASS" in outcome.patch.reason
    return outcome.patch


async def count_patches(node: HeartNode, admin: Session) -> int:
    return len(await node.facade.patches.list_patches(admin.principal))


async def test_keeping_the_good_hunk_makes_a_ready_patch(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    original = await two_hunk_patch(node, admin)
    hunks = await node.facade.patches.patch_hunks(admin.principal, original.id)
    assert [(h.index, h.added, h.removed) for h in hunks] == [(0, 2, 0), (1, 1, 1)]
    assert "+    if b == 0:" in hunks[0].text and "+    return x / 3" in hunks[1].text

    derived = await node.facade.patches.accept_hunks(admin.principal, original.id, [0])
    assert derived.state is PatchState.READY, derived.reason
    assert derived.derived_from == original.id
    assert "if b == 0" in derived.diff and "x / 3" not in derived.diff
    assert derived.tests == original.tests, "the tests go with the kept hunks"
    assert derived.result is not None and derived.result["ok"]
    source, events = await node.facade.patches.get_patch(admin.principal, original.id)
    assert source.state is PatchState.SUPERSEDED and source.superseded_by == derived.id
    assert events[-1].state == "superseded"
    assert events[-1].detail.startswith(f"superseded by patch {derived.id}: hunks 1 of 2 kept")
    _, derived_events = await node.facade.patches.get_patch(admin.principal, derived.id)
    assert [e.state for e in derived_events] == ["proposed", "testing", "ready"]
    assert (
        derived_events[0].detail == f"derived from patch {original.id}: hunks 1 of 2 kept by admin"
    )

    (entry,) = await node.security.audit.query(AuditQuery(action_prefix="patch.hunks"))
    assert entry.target == f"patch:{derived.id}" and entry.outcome == "ok"
    assert entry.detail["source_patch"] == original.id and entry.detail["kept"] == [1]
    assert entry.detail["diff_hash"] == derived.diff_hash

    # A superseded patch is closed: no second subset, no approval.
    with pytest.raises(ConflictError, match="only ready or rejected"):
        await node.facade.patches.accept_hunks(admin.principal, original.id, [0])
    with pytest.raises(ConflictError):
        await node.facade.patches.approve_patch(admin.principal, original.id)

    applied = await node.facade.patches.approve_patch(admin.principal, derived.id)
    assert applied.state is PatchState.APPLIED
    assert await node.runtime.call("ratio", {"a": 1, "b": 0}, admin.principal) == 0.0
    assert await node.runtime.call("half", {"x": 4}, admin.principal) == 2


async def test_a_subset_goes_through_the_sandbox_again(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    original = await two_hunk_patch(node, admin)
    # Hunk 2 alone does not fix anything: the new test still fails after it.
    wrong = await node.facade.patches.accept_hunks(admin.principal, original.id, [1])
    assert wrong.state is PatchState.REJECTED and wrong.derived_from == original.id
    assert wrong.result is not None and not wrong.result["ok"]
    with pytest.raises(ConflictError):
        await node.facade.patches.approve_patch(admin.principal, wrong.id)
    source, _ = await node.facade.patches.get_patch(admin.principal, original.id)
    assert source.state is PatchState.REJECTED and source.superseded_by is None, (
        "a narrowing that failed leaves the original as it was"
    )

    # ... so the operator can pick again; this time the original is superseded.
    right = await node.facade.patches.accept_hunks(admin.principal, original.id, [0])
    assert right.state is PatchState.READY
    source, _ = await node.facade.patches.get_patch(admin.principal, original.id)
    assert source.state is PatchState.SUPERSEDED and source.superseded_by == right.id


async def test_subsets_that_cannot_work_are_refused(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    original = await two_hunk_patch(node, admin)
    before = await count_patches(node, admin)
    refusals = {
        (): "leaves nothing",
        (0, 1): "that is the patch itself",
        (4,): "there is no hunk 5",
    }
    for keep, message in refusals.items():
        with pytest.raises(PatchFormatError, match=message):
            await node.facade.patches.accept_hunks(admin.principal, original.id, keep)

    # The module was reloaded since with a different ratio(): hunk 1's context is gone.
    source = TOOLS.replace("    return a / b", "    return float(a) / float(b)")
    result = await node.reload.reload_module(
        "mathy", source=source, origin=Origin.MANUAL, principal=admin.principal
    )
    assert result.ok
    with pytest.raises(PatchFormatError, match="hunk 1 does not apply"):
        await node.facade.patches.accept_hunks(admin.principal, original.id, [0])

    await node.facade.admin.create_user(admin.principal, "olga", PASSWORD, "observer")
    olga = await node.facade.sessions.login("olga", PASSWORD)
    with pytest.raises(PermissionDeniedError):
        await node.facade.patches.accept_hunks(olga.principal, original.id, [0])

    patch, _ = await node.facade.patches.get_patch(admin.principal, original.id)
    assert patch.state is PatchState.REJECTED and patch.superseded_by is None, "unchanged"
    assert await count_patches(node, admin) == before
    refused = await node.security.audit.query(AuditQuery(action_prefix="patch.hunks"))
    assert [e.outcome for e in refused] == ["error"] * 4


def test_a_subset_that_does_not_parse_is_refused() -> None:
    old = "VALUES = [\n" + "".join(f"    {i},\n" for i in range(10)) + "]\n"
    new = old.replace("VALUES = [", "VALUES = (").replace("]\n", ")\n")
    path = "tools/values.py"
    hunks = module_hunks({path: old}, {path: new})
    assert len(hunks) == 2
    with pytest.raises(PatchFormatError, match="SyntaxError"):
        keep_hunks({path: old}, {path: new}, {}, [0], existing_tests=set())
