"""The Patch review panel's models without an engine: alignment, availability of the
actions per state and permission, the editable patch text, incremental table updates."""

from __future__ import annotations

import doctest
import time
from dataclasses import replace
from types import ModuleType
from typing import Any

import pytest
from PySide6.QtWidgets import QAbstractItemView, QTableView
from pytestqt.qtbot import QtBot

import app.panels.patches.hunks
import app.panels.patches.rows
import app.panels.patches.sandbox
import app.panels.patches.side_by_side_model
import app.panels.patches.text
import app.shared.badges
from app.panels.patches.actions import (
    APPROVE,
    EDIT,
    REGENERATE,
    REJECT,
    REQUEST,
    ROLLBACK,
    availability,
)
from app.panels.patches.rows import QUEUE_COLUMNS
from app.panels.patches.side_by_side_model import (
    ADDED,
    CHANGED,
    EQUAL,
    FILE,
    REMOVED,
    align,
    side_by_side,
)
from app.panels.patches.text import answer_text
from app.shared.records import RecordTableModel
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.patches.patchformat import materialise, parse_answer
from chimera_engine.security.permissions import Role
from chimera_engine.security.principal import Principal
from tests.patches.conftest_helpers import BUGGY, FIX

MODULES: list[ModuleType] = [
    app.shared.badges,
    app.panels.patches.rows,
    app.panels.patches.text,
    app.panels.patches.side_by_side_model,
    app.panels.patches.sandbox,
    app.panels.patches.hunks,
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    failures, _ = doctest.testmod(module)
    assert failures == 0


def make_patch(**fields: Any) -> Patch:
    content = materialise(
        parse_answer(FIX),
        {"tools/mathy.py": BUGGY},
        allowed={"tools/mathy.py"},
        existing_tests=set(),
    )
    base: dict[str, Any] = {
        "id": 1,
        "module": "mathy",
        "base_version": 1,
        "state": PatchState.READY,
        "created_at": time.time(),
        "updated_at": time.time(),
        "provider": "replay",
        "model": "gpt-4o-mini",
        "replay": True,
        "input_tokens": 812,
        "output_tokens": 240,
        "cost_usd": 0.0,
        "diff": content.diff,
        "diff_hash": content.diff_hash,
        "files": content.files,
        "tests": content.tests,
        "rationale": content.rationale,
        "risk": "low",
        "result": None,
        "reason": "",
        "applied_version": None,
        "decided_by": "admin",
        "signature": "mathy ZeroDivisionError",
        "attempts": 1,
        "originals": content.originals,
    }
    return Patch(**{**base, **fields})


def test_alignment_keeps_both_sides_in_step() -> None:
    rows = align("a\nb\nc\nd\n", "a\nB\nx\ny\nd\n")
    assert [r.kind for r in rows] == [EQUAL, CHANGED, CHANGED, ADDED, EQUAL]
    assert [(r.old_no, r.new_no) for r in rows] == [(1, 1), (2, 2), (3, 3), (None, 4), (4, 5)]
    assert [r.kind for r in align("a\nb\nc\n", "a\n")] == [EQUAL, REMOVED, REMOVED]
    view = side_by_side({"a.py": "x\n"}, {"a.py": "x\ny\n", "b.py": "new\n"})
    assert view.kinds == [FILE, EQUAL, ADDED, FILE, ADDED]
    assert len(view.old_text.split("\n")) == len(view.new_text.split("\n")) == 5
    assert view.new_labels == ["", "1", "2", "", "1"] and view.old_labels[2] == ""


def test_the_patch_text_round_trips_through_the_engine_parser() -> None:
    patch = make_patch()
    text = answer_text(patch)
    assert text.startswith("The divisor can be zero")
    again = materialise(
        parse_answer(text),
        {"tools/mathy.py": BUGGY},
        allowed={"tools/mathy.py"},
        existing_tests=set(),
    )
    assert again.files == patch.files and again.tests == patch.tests
    assert again.diff_hash == patch.diff_hash


OPERATOR = Principal(user_id=2, name="olivia", role=Role.OPERATOR, via="password")
OBSERVER = Principal(user_id=3, name="omar", role=Role.OBSERVER, via="password")


@pytest.mark.parametrize(
    ("state", "enabled"),
    [
        (PatchState.PROPOSED, {REGENERATE, REQUEST}),
        (PatchState.TESTING, {REGENERATE, REQUEST}),
        (PatchState.READY, {APPROVE, REJECT, EDIT, REGENERATE, REQUEST}),
        (PatchState.REJECTED, {EDIT, REGENERATE, REQUEST}),
        (PatchState.APPROVED, {REGENERATE, REQUEST}),
        (PatchState.APPLIED, {ROLLBACK, REGENERATE, REQUEST}),
        (PatchState.KEPT, {ROLLBACK, REGENERATE, REQUEST}),
        (PatchState.ROLLED_BACK, {REGENERATE, REQUEST}),
    ],
)
def test_actions_follow_the_state_machine(state: PatchState, enabled: set[str]) -> None:
    patch = make_patch(state=state)
    actions = (APPROVE, REJECT, EDIT, REGENERATE, ROLLBACK, REQUEST)
    offered = {a for a in actions if availability(a, OPERATOR, patch).enabled}
    assert offered == enabled
    assert not any(availability(a, OBSERVER, patch).enabled for a in actions)
    generating = {a for a in actions if availability(a, OPERATOR, patch, generating="x").enabled}
    assert generating == enabled - {REGENERATE, REQUEST}


def test_tooltips_say_why() -> None:
    testing = make_patch(state=PatchState.TESTING, id=4)
    assert availability(APPROVE, OPERATOR, testing).tip == (
        "Patch 4 is testing: only ready patches; wait for the engine to finish with it"
    )
    assert availability(APPROVE, OBSERVER, testing).tip == (
        "Requires the patch.approve permission; omar (observer) does not have it"
    )
    assert availability(APPROVE, None, None).tip.startswith("Sign in with the patch.approve")
    assert availability(REJECT, OPERATOR, None).tip == "Select a patch first"


def test_queue_shows_replays_unmistakably() -> None:
    model: RecordTableModel[Patch] = RecordTableModel(QUEUE_COLUMNS, key=lambda p: p.id)
    model.set_rows([make_patch(), make_patch(id=2, replay=False, provider="openai", cost_usd=None)])
    source = [row[5] for row in model.texts()]
    assert source == ["SCRIPTED · gpt-4o-mini", "openai · gpt-4o-mini"]
    assert [row[7] for row in model.texts()] == ["$0", "—"]


def test_merge_updates_in_place_and_keeps_the_selection(qtbot: QtBot) -> None:
    model: RecordTableModel[Patch] = RecordTableModel(QUEUE_COLUMNS, key=lambda p: p.id)
    table = QTableView()
    qtbot.addWidget(table)
    table.setModel(model)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    model.merge([make_patch(id=2), make_patch(id=1)])
    table.selectRow(1)
    resets: list[int] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.merge([make_patch(id=3), replace(make_patch(id=1), state=PatchState.APPLIED)])
    assert [p.id for p in model.records()] == [3, 1] and not resets
    (selected,) = table.selectionModel().selectedRows()
    assert model.record(selected.row()).state is PatchState.APPLIED
