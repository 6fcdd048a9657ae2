"""The module tree and reload-log models, and the code views (no engine needed)."""

from __future__ import annotations

from PySide6.QtCore import QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QFont
from pytestqt.qtbot import QtBot

from app.calls import CallCount, CallSummary
from app.panels.modules.model import ModuleTreeModel, VersionRole
from app.panels.modules.reload_log import RESULT, VERSIONS, ReloadLogModel
from app.panels.modules.rows import CALLS, ERROR_RATE, NAME, ORIGIN, STATE
from app.widgets.code_view import CodeView, DiffHighlighter, PythonHighlighter, formats_at
from chimera_engine.modules.models import Origin, ReloadResult
from chimera_engine.modules.service import VersionInfo


def info(
    version: int,
    state: str = "inactive",
    *,
    module: str = "greeter",
    calls: int = 0,
    errors: int = 0,
    error: str = "",
    origin: str = "manual",
    parent: int | None = None,
) -> VersionInfo:
    return VersionInfo(
        module=module,
        version=version,
        state=state,
        origin=origin,
        created_at=1_700_000_000.0 + version,
        content_hash=f"{version:064x}",
        error=error,
        parent=parent,
        calls=calls,
        errors=errors,
        error_rate=errors / calls if calls else 0.0,
        in_flight=0,
        loaded=state != "failed",
        active=state == "active",
        tools=("greet", "shout"),
    )


def font(model: ModuleTreeModel, module: str, version: int) -> QFont:
    value = model.version_index(module, version).data(Qt.ItemDataRole.FontRole)
    return value if isinstance(value, QFont) else QFont()


def colour(model: ModuleTreeModel, module: str, version: int, column: int = NAME) -> str:
    brush = model.version_index(module, version, column).data(Qt.ItemDataRole.ForegroundRole)
    return brush.color().name() if isinstance(brush, QBrush) else ""


def test_tree_merges_new_versions_without_reset(qtbot: QtBot) -> None:
    model = ModuleTreeModel()
    model.merge({"greeter": [info(1, "active", calls=4)]})
    old_row = QPersistentModelIndex(model.version_index("greeter", 1))
    resets: list[None] = []
    inserted: list[tuple[bool, int, int]] = []
    model.modelReset.connect(lambda: resets.append(None))
    model.rowsInserted.connect(lambda p, first, last: inserted.append((p.isValid(), first, last)))

    model.merge(
        {
            "greeter": [info(1, calls=4), info(2, "active", calls=1)],
            "alpha": [info(1, "active", module="alpha")],
        }
    )
    assert resets == [], "a refresh never resets the tree"
    assert sorted(inserted) == [(False, 0, 0), (True, 0, 0)], "alpha above, v2 on top"
    assert model.modules() == ["alpha", "greeter"]
    assert old_row.isValid()
    assert (old_row.row(), old_row.data()) == (1, "   v1"), "the v1 row moved down intact"
    greeter = model.module_index("greeter")
    assert [model.index(r, NAME, greeter).data() for r in range(2)] == ["● v2", "   v1"]
    assert greeter.siblingAtColumn(STATE).data() == "active v2"
    assert greeter.siblingAtColumn(CALLS).data() == "5"
    assert model.active_version("greeter") == 2
    assert model.version_index("greeter", 2).data(VersionRole).version == 2


def test_tree_marks_version_states(qtbot: QtBot) -> None:
    model = ModuleTreeModel()
    model.merge(
        {
            "greeter": [
                info(1, "retired"),
                info(2, "deprecated"),
                info(3, "failed", error="SyntaxError: invalid syntax (line 1)"),
                info(4, "active", origin="rollback", parent=2),
            ]
        }
    )
    assert font(model, "greeter", 4).bold()
    assert model.version_index("greeter", 4).data() == "● v4"
    assert model.version_index("greeter", 4, ORIGIN).data() == "rollback (from v2)"
    assert font(model, "greeter", 2).italic()
    assert colour(model, "greeter", 2) == "#7b8794"
    assert font(model, "greeter", 1).strikeOut()
    assert colour(model, "greeter", 1) == "#9aa5b1"
    assert colour(model, "greeter", 3) == "#b42318"
    tooltip = model.version_index("greeter", 3, STATE).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip == "v3 was refused: SyntaxError: invalid syntax (line 1)"


def test_tree_applies_live_call_counts(qtbot: QtBot) -> None:
    model = ModuleTreeModel()
    model.merge({"greeter": [info(1, calls=10), info(2, "active", calls=0)]})
    changed: list[tuple[int, int]] = []
    model.dataChanged.connect(
        lambda top, bottom, _roles: changed.append((top.column(), bottom.column()))
    )
    summary = CallSummary(counts={("greeter", 2): CallCount(20, 3), ("gone", 1): CallCount(5, 0)})
    assert model.apply_calls(summary) == 1, "unknown versions wait for the next snapshot"
    assert set(changed) == {(CALLS, ERROR_RATE)}, "only the count columns are redrawn"
    assert model.version_index("greeter", 2, CALLS).data() == "20"
    assert model.version_index("greeter", 2, ERROR_RATE).data() == "15.0 %"
    assert colour(model, "greeter", 2, ERROR_RATE) == "#b42318"
    assert model.module_index("greeter", CALLS).data() == "30"
    # A snapshot from the engine replaces the totals (it already includes those calls).
    model.merge({"greeter": [info(1, calls=10), info(2, "active", calls=21, errors=3)]})
    assert model.counts("greeter", 2) == CallCount(21, 3)


def test_reload_log_folds_activation_into_its_reload(qtbot: QtBot) -> None:
    log = ReloadLogModel()
    log.add_state("greeter", 2, "active", previous=1)
    log.add_reload(ReloadResult(module="greeter", ok=True, version=2, previous=1, duration_ms=1.25))
    log.add_reload(
        ReloadResult(
            module="greeter",
            ok=False,
            version=3,
            previous=2,
            origin=Origin.FILE_CHANGE,
            stage="syntax",
            reason="SyntaxError: invalid syntax (line 1)",
        )
    )
    assert log.rowCount() == 2, "the activation row became part of the reload row"
    failed = log.index(0, RESULT)
    assert failed.data() == "refused at syntax: SyntaxError: invalid syntax (line 1)"
    brush = failed.data(Qt.ItemDataRole.ForegroundRole)
    assert isinstance(brush, QBrush)
    assert brush.color().name() == "#b42318"
    assert [log.index(r, VERSIONS).data() for r in range(2)] == ["v2 → v3", "v1 → v2"]
    assert log.index(1, RESULT).data() == "activated"


def test_highlighters_colour_code_and_diffs(qtbot: QtBot) -> None:
    view = CodeView("code", "nothing")
    python = PythonHighlighter(view.document())
    view.show_text('def greet(name):\n    """Doc\n    more"""\n    return "x"  # done\n')
    assert view.isReadOnly()
    assert view.font().fixedPitch() or view.font().styleHint() == QFont.StyleHint.Monospace
    line0 = [f.foreground().color().name() for f in formats_at(python, 0)]
    assert python.keyword_format.foreground().color().name() in line0
    assert python.definition_format.foreground().color().name() in line0
    string = python.string_format.foreground().color().name()
    assert [f.foreground().color().name() for f in formats_at(python, 2)] == [string]
    line3 = [f.foreground().color().name() for f in formats_at(python, 3)]
    assert string in line3
    assert python.comment_format.foreground().color().name() in line3

    diff_view = CodeView("diff", "nothing")
    diff = DiffHighlighter(diff_view.document())
    diff_view.show_text("--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n same\n")
    backgrounds = [
        [f.background().color().name() for f in formats_at(diff, line)] for line in range(6)
    ]
    assert backgrounds[3] == ["#fdecea"]
    assert backgrounds[4] == ["#e7f8ee"]
    assert backgrounds[5] == []
