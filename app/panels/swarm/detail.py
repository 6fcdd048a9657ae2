"""The detail area of the Swarm panel: the selected task's graph, consensus and attempts.

Above: the **task graph** of the decomposed job the task belongs to, nodes
coloured by live state (see :class:`~app.panels.swarm.task_graph.TaskGraphView`).
Below, in two tabs:

* **Consensus**: for a redundant task, how it was decided (method, value or
  "no consensus"/tie, support) and each agent's vote: value, confidence,
  weight, and whether it agreed or dissented;
* **Attempts**: which agent ran each attempt and how it ended (a killed agent's
  attempt reads ``agent_lost``, followed by the attempt that took over).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QLabel,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.panels.swarm.rows import (
    ATTEMPT_COLUMNS,
    BALLOT_COLUMNS,
    Attempt,
    format_value,
    outcome_text,
    task_label,
    task_short,
)
from app.panels.swarm.task_graph import TaskGraphView
from app.shared.records import RecordTableModel
from app.widgets.badges import BadgeDelegate
from app.widgets.labels import selectable_label
from app.widgets.style import set_severity
from app.widgets.tables import configure_view
from chimera_engine.swarm.ballots import Ballot, ConsensusRecord
from chimera_engine.swarm.models import TaskInfo

CONSENSUS_TAB, ATTEMPTS_TAB = 0, 1


def consensus_summary(record: ConsensusRecord) -> tuple[str, str]:
    """One line saying how a task was decided, and its severity.

    >>> r = ConsensusRecord(task_id="t", status="agreed", method="majority", value=40,
    ...     support=2 / 3, votes=3, expected=3, reason="", tied=(), ballots=())
    >>> consensus_summary(r)
    ('Agreed by majority on 40 · support 67% · 3 of 3 votes cast', 'ok')
    """
    cast = f"{record.votes} of {record.expected} votes cast"
    support = f"support {record.support:.0%}"
    if record.agreed:
        note = f" · {record.reason}" if record.reason else ""
        return (
            f"Agreed by {record.method} on {format_value(record.value, 60)} · {support} · "
            f"{cast}{note}",
            "warn" if record.reason else "ok",
        )
    if record.status == "tie":
        values = ", ".join(format_value(v, 30) for v in record.tied)
        return f"Tie ({record.method}): {values} have equal support · {cast}", "critical"
    if record.status == "no_votes":
        return f"No consensus ({record.method}): no replica produced a result · {cast}", "critical"
    return f"No consensus ({record.method}): {record.reason} · {cast}", "critical"


def _table(name: str, model: RecordTableModel[Any], parent: QWidget) -> QTableView:
    table = QTableView(parent)
    table.setObjectName(name)
    table.setModel(model)
    table.setItemDelegate(BadgeDelegate(table))
    configure_view(table, model.widths())
    return table


class SwarmDetail(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("swarmDetail")
        self.task: TaskInfo | None = None
        self.record: ConsensusRecord | None = None
        self.header = selectable_label("swarmTaskHeader", self)
        self.header.setWordWrap(False)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.header.setText("No task selected")
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("swarmDetailTabs")
        self.tabs.setDocumentMode(True)

        self.graph = TaskGraphView(self)
        consensus = QWidget(self)
        self.consensus_label = QLabel(consensus)
        self.consensus_label.setObjectName("swarmConsensusLabel")
        self.consensus_label.setWordWrap(True)
        self.consensus_label.setTextFormat(Qt.TextFormat.PlainText)
        self.ballot_model: RecordTableModel[Ballot] = RecordTableModel(
            BALLOT_COLUMNS, key=lambda b: b.agent, parent=self
        )
        self.ballot_table = _table("swarmBallotTable", self.ballot_model, consensus)
        box = QVBoxLayout(consensus)
        box.setContentsMargins(0, 8, 0, 0)
        box.setSpacing(6)
        box.addWidget(self.consensus_label)
        box.addWidget(self.ballot_table, 1)
        self.attempt_model: RecordTableModel[Attempt] = RecordTableModel(
            ATTEMPT_COLUMNS, key=lambda r: r.get("id"), parent=self
        )
        self.attempt_table = _table("swarmAttemptTable", self.attempt_model, self)
        self.tabs.addTab(consensus, "Consensus")
        self.tabs.addTab(self.attempt_table, "Attempts")
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("swarmDetailSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.graph)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([226, 196])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.header)
        layout.addWidget(self.splitter, 1)
        self.set_votes(None)

    def show_task(self, task: TaskInfo | None) -> None:
        self.task = task
        if task is None:
            self.header.setText("No task selected")
            set_severity(self.header, "muted")
            self.attempt_model.set_rows([])
            self.set_votes(None)
            return
        parts = [f"Task {task_short(task.id)}", task_label(task), task.state.value]
        if task.agent:
            parts.append(f"on {task.agent}")
        outcome = outcome_text(task)
        if outcome:
            parts.append(f"result {outcome}" if task.state.value == "succeeded" else outcome)
        self.header.setText(" · ".join(parts))
        self.header.setToolTip(task.id)
        failed = task.state.value in ("failed", "quarantined")
        set_severity(self.header, "critical" if failed else "muted")

    def set_votes(self, record: ConsensusRecord | None) -> None:
        self.record = record
        if record is None:
            task = self.task
            if task is None:
                text = "Select a task to see how its replicas voted"
            elif task.state.final:
                text = f"Task {task_short(task.id)} ran once: there was no vote"
            else:
                text = f"Task {task_short(task.id)} is {task.state.value}: not decided yet"
            self.consensus_label.setText(text)
            set_severity(self.consensus_label, "muted")
            self.ballot_model.set_rows([])
            return
        text, severity = consensus_summary(record)
        self.consensus_label.setText(text)
        set_severity(self.consensus_label, severity)
        self.ballot_model.set_rows(record.ballots)

    def set_attempts(self, rows: list[Attempt]) -> None:
        self.attempt_model.merge(rows)
