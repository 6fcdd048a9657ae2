"""The sandbox tab of the Patch review panel: the verdict, every test by phase, output.

Phases: *fail → pass* (the patch's new tests on the patched module: must pass),
*pass → pass* (the existing tests on the patched module: must keep passing) and
*before* (the new tests on the unpatched module: they should fail, proving they
catch the bug). Selecting a test shows its output; sandbox violations are red.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QItemSelection, Qt
from PySide6.QtWidgets import QAbstractItemView, QSplitter, QTableView, QVBoxLayout, QWidget

from app.panels.patches.rows import PHASES, TEST_COLUMNS, SandboxTest, duration_text, sandbox_tests
from app.shared.records import RecordTableModel
from app.widgets.code_view import CodeView
from app.widgets.labels import selectable_label
from app.widgets.style import set_severity
from app.widgets.tables import configure_view


def verdict_text(result: Mapping[str, Any] | None) -> tuple[str, str]:
    """One line summing up a sandbox result, and its severity.

    >>> verdict_text(None)
    ('Not tested yet: the sandbox runs the tests once the patch is recorded.', 'muted')
    >>> verdict_text({"ok": False, "reason": "new test fails", "duration_s": 0.5})
    ('Refused by the sandbox in 0.50 s: new test fails', 'critical')
    >>> passed = {"outcome": "passed"}
    >>> text, severity = verdict_text({"ok": True, "duration_s": 1, "fail_to_pass": [passed],
    ...     "before": [{"outcome": "failed"}], "pass_to_pass": [passed, passed]})
    >>> print(*text.split(" · "), sep="\\n")
    Passed in 1.00 s — fail → pass: 1/1 passed
    before the patch: 1/1 failed, as they should
    pass → pass: 2/2 passed
    >>> verdict_text({"ok": True, "duration_s": 1, "reduced": True, "missing": ["bwrap"]})[1]
    'warn'

    """
    if not result:
        return "Not tested yet: the sandbox runs the tests once the patch is recorded.", "muted"
    seconds = float(result.get("duration_s") or 0.0)
    if not result.get("ok"):
        timed_out = " (timed out)" if result.get("timed_out") else ""
        return (
            f"Refused by the sandbox in {seconds:.2f} s{timed_out}: {result.get('reason', '')}",
            "critical",
        )
    if result.get("reduced"):
        missing = ", ".join(result.get("missing") or []) or "unknown"
        text, _ = verdict_text({**result, "reduced": False})
        return (
            f"{text} · REDUCED SANDBOX (missing: {missing}): never auto-approved, review with care",
            "warn",
        )
    counts = []
    for phase, label in PHASES.items():
        tests = result.get(phase) or []
        if phase == "before" and tests:
            failed = sum(t.get("outcome") in ("failed", "error") for t in tests)
            counts.append(f"before the patch: {failed}/{len(tests)} failed, as they should")
        elif tests:
            passed = sum(t.get("outcome") == "passed" for t in tests)
            counts.append(f"{label}: {passed}/{len(tests)} passed")
    return f"Passed in {seconds:.2f} s — " + " · ".join(counts), "ok"


class SandboxResults(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patchSandbox")
        self._excerpt = ""
        self.verdict_label = selectable_label("patchSandboxVerdict", self)
        self.violations_label = selectable_label("patchSandboxViolations", self)
        set_severity(self.violations_label, "critical")
        self.violations_label.hide()
        self.model: RecordTableModel[SandboxTest] = RecordTableModel(
            TEST_COLUMNS, key=lambda t: (t.phase, t.nodeid), parent=self
        )
        self.table = QTableView(self)
        self.table.setObjectName("patchTestsTable")
        self.table.setModel(self.model)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        configure_view(self.table, self.model.widths())
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.output_label = selectable_label("patchTestOutputLabel", self)
        self.output_view = CodeView("patchTestOutput", "Select a test to see its output", self)
        output = QWidget(self)
        output_layout = QVBoxLayout(output)
        output_layout.setContentsMargins(0, 4, 0, 0)
        output_layout.setSpacing(4)
        output_layout.addWidget(self.output_label)
        output_layout.addWidget(self.output_view, 1)
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.setObjectName("patchSandboxSplitter")
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.table)
        splitter.addWidget(output)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([240, 160])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.verdict_label)
        layout.addWidget(self.violations_label)
        layout.addWidget(splitter, 1)

    def show_result(self, result: Mapping[str, Any] | None) -> None:
        text, severity = verdict_text(result)
        self.verdict_label.setText(text)
        set_severity(self.verdict_label, severity)
        problems = list((result or {}).get("violations") or [])
        module_problem = str((result or {}).get("module_problem") or "")
        if module_problem:
            problems.insert(0, f"module: {module_problem}")
        self.violations_label.setText("\n".join(f"⚠ {p}" for p in problems))
        self.violations_label.setVisible(bool(problems))
        self._excerpt = str((result or {}).get("output_excerpt") or "")
        self.model.set_rows(sandbox_tests(result))
        self._show_output(None)

    def select_test(self, row: int) -> None:
        self.table.selectRow(row)

    def _selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = self.table.selectionModel().selectedRows()
        self._show_output(self.model.record(rows[0].row()) if rows else None)

    def _show_output(self, test: SandboxTest | None) -> None:
        if test is None:
            self.output_label.setText("Output of the sandbox run" if self._excerpt else "")
            self.output_view.show_text(self._excerpt)
            return
        phase = PHASES.get(test.phase, test.phase)
        self.output_label.setText(
            f"{test.nodeid} · {phase} · {test.outcome} in {duration_text(test.duration)}"
        )
        self.output_view.show_text(test.output or "(the test printed nothing)")
