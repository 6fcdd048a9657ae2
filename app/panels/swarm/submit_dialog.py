"""Running work from the console: the submit-task dialog of the Swarm panel.

The operator picks a workspace tool, types its inputs as JSON (checked as they
type; a template of the tool's parameters to start from), and chooses the role,
priority, redundancy and, for redundant tasks, the consensus method. Naming an
input to *split over* makes it a job the engine decomposes into a task graph
(one task per chunk of that list, optionally aggregated by a second tool).
The engine checks ``swarm.task`` and ``tool.call``, audits the submission, and
:attr:`succeeded` carries the :class:`TaskInfo` (or the job's ``GraphInfo``).
"""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from app.bridge import EngineBridge
from app.panels.swarm.inputs import parse_inputs, template
from app.shared.dialog_base import grow_to_fit
from app.shared.form import FormDialog
from app.widgets.code_view import monospace_font
from app.widgets.style import set_severity
from chimera_engine.modules.service import ToolInfo
from chimera_engine.swarm.decomposer import Job
from chimera_engine.swarm.models import (
    MAX_REDUNDANCY,
    ROLE_NAME,
    ROLES,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
)

NO_AGGREGATE = "(none: keep each chunk's result)"


class SubmitTaskDialog(FormDialog):
    def __init__(
        self, bridge: EngineBridge, tools: Sequence[ToolInfo], parent: QWidget | None = None
    ) -> None:
        super().__init__(
            bridge,
            name="submitTaskDialog",
            title="Submit a task",
            heading="Submit a task to the swarm",
            text=(
                "An agent of the chosen role runs the tool with these inputs. With a "
                "redundancy above 1, that many agents run it and the consensus method "
                "decides the result; splitting over a list input makes a task graph."
            ),
            submit="Submit",
            busy="Submitting…",
            parent=parent,
        )
        self.tools = {t.name: t for t in tools}
        self.tool_combo = QComboBox(self)
        self.tool_combo.setObjectName("submitToolCombo")
        for tool in sorted(self.tools):
            self.tool_combo.addItem(tool, tool)
        self.signature_label = QLabel(self)
        self.signature_label.setObjectName("submitSignatureLabel")
        self.signature_label.setWordWrap(True)
        set_severity(self.signature_label, "muted")
        self.inputs_edit = QPlainTextEdit(self)
        self.inputs_edit.setObjectName("submitInputsEdit")
        self.inputs_edit.setFont(monospace_font(10))
        self.inputs_edit.setTabChangesFocus(True)
        self.inputs_edit.setFixedHeight(120)
        self.inputs_status = QLabel(self)
        self.inputs_status.setObjectName("submitInputsStatus")
        self.inputs_status.setContentsMargins(0, 4, 0, 0)
        self.role_combo = QComboBox(self)
        self.role_combo.setObjectName("submitRoleCombo")
        self.role_combo.setEditable(True)
        self.role_combo.addItems(list(ROLES))
        self.role_combo.setCurrentText("executor")
        self.priority_spin = QSpinBox(self)
        self.priority_spin.setObjectName("submitPrioritySpin")
        self.priority_spin.setRange(-100, 100)
        self.priority_spin.setToolTip("Higher runs first when agents are busy")
        self.redundancy_spin = QSpinBox(self)
        self.redundancy_spin.setObjectName("submitRedundancySpin")
        self.redundancy_spin.setRange(1, MAX_REDUNDANCY)
        self.method_combo = QComboBox(self)
        self.method_combo.setObjectName("submitMethodCombo")
        for method in ConsensusMethod:
            self.method_combo.addItem(method.value, method.value)
        self.threshold_spin = QDoubleSpinBox(self)
        self.threshold_spin.setObjectName("submitThresholdSpin")
        self.threshold_spin.setRange(0.05, 1.0)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setValue(0.67)
        self.threshold_spin.setToolTip("Quorum: the share of the expected votes the value needs")
        self.tolerance_edit = QLineEdit(self)
        self.tolerance_edit.setObjectName("submitToleranceEdit")
        self.tolerance_edit.setPlaceholderText("exact")
        self.tolerance_edit.setToolTip("Numbers within this absolute tolerance count as equal")
        consensus = QHBoxLayout()
        consensus.setSpacing(8)
        consensus.addWidget(self.method_combo, 1)
        consensus.addWidget(QLabel("quorum", self))
        consensus.addWidget(self.threshold_spin)
        consensus.addWidget(QLabel("tolerance", self))
        consensus.addWidget(self.tolerance_edit)
        self.split_combo = QComboBox(self)
        self.split_combo.setObjectName("submitSplitCombo")
        self.split_combo.setToolTip("A list input to split into chunks, one task per chunk")
        self.chunk_spin = QSpinBox(self)
        self.chunk_spin.setObjectName("submitChunkSpin")
        self.chunk_spin.setRange(1, 100_000)
        self.chunk_spin.setPrefix("chunks of ")
        self.aggregate_combo = QComboBox(self)
        self.aggregate_combo.setObjectName("submitAggregateCombo")
        self.aggregate_combo.addItem(NO_AGGREGATE, "")
        for tool in sorted(self.tools):
            self.aggregate_combo.addItem(tool, tool)
        split = QHBoxLayout()
        split.setSpacing(8)
        split.addWidget(self.split_combo, 1)
        split.addWidget(self.chunk_spin)
        self.form.addRow("Tool", self.tool_combo)
        self.form.addRow("", self.signature_label)
        self.form.addRow("Inputs (JSON)", self.inputs_edit)
        self.form.addRow("", self.inputs_status)
        self.form.addRow("Role", self.role_combo)
        self.form.addRow("Priority", self.priority_spin)
        self.form.addRow("Redundancy", self.redundancy_spin)
        self.form.addRow("Consensus", consensus)
        self.form.addRow("Split over", split)
        self.form.addRow("Aggregate with", self.aggregate_combo)
        self.finish_form()
        inputs_label = self.form.labelForField(self.inputs_edit)
        if isinstance(inputs_label, QLabel):  # the label at the top of the editor
            inputs_label.setMinimumHeight(self.inputs_edit.maximumHeight())
            inputs_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            inputs_label.setContentsMargins(0, 6, 0, 0)
        self.resize(620, self.sizeHint().height())

        self.tool_combo.currentIndexChanged.connect(self._tool_changed)
        self.inputs_edit.textChanged.connect(self._inputs_changed)
        self.redundancy_spin.valueChanged.connect(self._update_enabled)
        self.method_combo.currentIndexChanged.connect(self._update_enabled)
        self.split_combo.currentIndexChanged.connect(self._update_enabled)
        self._tool_changed()
        self.inputs_edit.setFocus()

    # -- fields ----------------------------------------------------------------------------
    def tool(self) -> str:
        return str(self.tool_combo.currentData() or "")

    def set_inputs(self, text: str) -> None:
        self.inputs_edit.setPlainText(text)

    def _tool_changed(self) -> None:
        info = self.tools.get(self.tool())
        if info is None:
            self.signature_label.setText("There are no tools in the workspace")
            return
        description = f" — {info.description}" if info.description else ""
        self.signature_label.setText(f"{info.name}{info.signature}{description}")
        self.set_inputs(template(info.signature))
        # A long signature wraps over more lines: room for them, never clipped.
        layout = self.layout()
        if layout is not None:
            layout.activate()
        grow_to_fit(self)

    def _inputs_changed(self) -> None:
        parsed = parse_inputs(self.inputs_edit.toPlainText())
        if parsed.error:
            self.inputs_status.setText(f"Not valid: {parsed.error}")
            set_severity(self.inputs_status, "critical")
        else:
            lists = [k for k, v in parsed.value.items() if isinstance(v, list)]
            self.inputs_status.setText(
                f"Valid JSON object with {len(parsed.value)} input(s)"
                + (f"; lists: {', '.join(lists)}" if lists else "")
            )
            set_severity(self.inputs_status, "ok")
            current = str(self.split_combo.currentData() or "")
            self.split_combo.blockSignals(True)
            self.split_combo.clear()
            self.split_combo.addItem("(no split: one task)", "")
            for name in lists:
                self.split_combo.addItem(name, name)
            index = self.split_combo.findData(current)
            self.split_combo.setCurrentIndex(max(0, index))
            self.split_combo.blockSignals(False)
        self._update_enabled()

    def _update_enabled(self) -> None:
        redundant = self.redundancy_spin.value() > 1
        self.method_combo.setEnabled(redundant)
        quorum = self.method() is ConsensusMethod.QUORUM
        self.threshold_spin.setEnabled(redundant and quorum)
        self.tolerance_edit.setEnabled(redundant)
        splitting = bool(self.split_combo.currentData())
        self.chunk_spin.setEnabled(splitting)
        self.aggregate_combo.setEnabled(splitting)

    def method(self) -> ConsensusMethod:
        return ConsensusMethod(str(self.method_combo.currentData()))

    def policy(self) -> ConsensusPolicy:
        text = self.tolerance_edit.text().strip()
        return ConsensusPolicy(
            method=self.method(),
            threshold=self.threshold_spin.value(),
            tolerance=float(text) if text else None,
        )

    # -- submitting ------------------------------------------------------------------------
    def problem(self) -> str:
        if not self.tool():
            return "there is no tool to run"
        parsed = parse_inputs(self.inputs_edit.toPlainText())
        if parsed.error:
            return f"the inputs are not valid JSON: {parsed.error}"
        role = self.role_combo.currentText().strip()
        if not ROLE_NAME.match(role):
            return f"{role!r} is not a role name (lower-case letters, digits, - and _)"
        tolerance = self.tolerance_edit.text().strip()
        if tolerance:
            try:
                if float(tolerance) < 0:
                    return "the tolerance must not be negative"
            except ValueError:
                return f"the tolerance {tolerance!r} is not a number"
        return ""

    def editors(self) -> list[QWidget]:
        return [
            self.tool_combo,
            self.inputs_edit,
            self.role_combo,
            self.priority_spin,
            self.redundancy_spin,
            self.method_combo,
            self.threshold_spin,
            self.tolerance_edit,
            self.split_combo,
            self.chunk_spin,
            self.aggregate_combo,
        ]

    def operation(self) -> Coroutine[Any, Any, object]:
        inputs = parse_inputs(self.inputs_edit.toPlainText()).value
        role = self.role_combo.currentText().strip()
        split = str(self.split_combo.currentData() or "")
        if split:
            job = Job(
                tool=self.tool(),
                inputs=inputs,
                map_over=split,
                chunk_size=self.chunk_spin.value(),
                aggregate=str(self.aggregate_combo.currentData() or "") or None,
                role=role,
                priority=self.priority_spin.value(),
                redundancy=self.redundancy_spin.value(),
                consensus=self.policy(),
            )
            return self._bridge.swarm.submit_job(job)
        task = Task(
            tool=self.tool(),
            inputs=inputs,
            role=role,
            priority=self.priority_spin.value(),
            redundancy=self.redundancy_spin.value(),
            consensus=self.policy(),
        )
        return self._bridge.swarm.submit_task(task)
