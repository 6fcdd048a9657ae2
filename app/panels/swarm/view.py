"""The Swarm panel: agents, tasks, task graphs and consensus outcomes, live.

Top: the actions (spawn, stop, kill agents; submit, cancel tasks) and a summary
of the swarm. Middle: the agents (role, state, load, reputation, memory, CPU,
heartbeat age), re-read once a second while the panel is visible. Bottom: the
tasks with their filters, and the selected task's graph, consensus and
attempts. Engine events arrive folded into a few digests a second
(:class:`~app.shared.swarm_feed.SwarmDigest`): known rows and graph nodes change
in place; new tasks cause one re-read at most every :data:`TASKS_EVERY_MS`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QItemSelection, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge, describe_error
from app.panels.swarm.actions import CANCEL, KILL, SPAWN, STOP, SUBMIT, SwarmActionBar
from app.panels.swarm.commands import SwarmCommands
from app.panels.swarm.detail import SwarmDetail
from app.panels.swarm.filter import TaskFilter, scope_choices, state_counts
from app.panels.swarm.fold import fold_agents, fold_tasks, order_agents
from app.panels.swarm.rows import AGENT_COLUMNS, TASK_COLUMNS, Attempt, task_short
from app.panels.swarm.widgets import TaskFilterBar, section_label, stats_text, swarm_table
from app.shared.records import RecordRole, RecordTableModel, SortRole
from app.shared.swarm_feed import SwarmDigest
from app.widgets.labels import selectable_label, show_failure
from app.widgets.panel_frame import panel_footer, panel_layout, panel_toolbar, refresh_button
from app.widgets.plural import count
from app.widgets.style import set_severity
from chimera_engine.security.manager import Session
from chimera_engine.swarm.ballots import ConsensusRecord
from chimera_engine.swarm.coordinator import SwarmStats
from chimera_engine.swarm.models import AgentInfo, TaskInfo

#: Agents (CPU, memory, heartbeats) and the summary are re-read this often while visible.
AGENTS_EVERY_MS = 1000
#: New tasks cause a re-read of the list at most this often.
TASKS_EVERY_MS = 1000
#: Changes of the selected task re-read its detail after this delay (coalesced).
DETAIL_DELAY_MS = 150
DetailData = tuple[ConsensusRecord | None, list[Attempt], list[TaskInfo] | None]


class SwarmPanel(QWidget):
    """:attr:`agentsLoaded` (agents) and :attr:`tasksLoaded` (tasks) after each read;
    :attr:`detailShown` (task id) once a task's detail is on screen;
    :attr:`actionFinished` (action, ok, status text)."""

    agentsLoaded = Signal(int)
    tasksLoaded = Signal(int)
    detailShown = Signal(str)
    actionFinished = Signal(str, bool, str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("swarmPanel")
        self._bridge = bridge
        self._loading: set[str] = set()
        self._again: set[str] = set()
        self._busy: set[str] = set()
        self._running = True
        self._select_after = ""
        self._tasks_read_at = 0.0
        self._stale = False

        self.agent_model: RecordTableModel[AgentInfo] = RecordTableModel(
            AGENT_COLUMNS, key=lambda a: a.id, parent=self
        )
        self.agent_proxy = QSortFilterProxyModel(self)
        self.agent_proxy.setSortRole(SortRole)
        self.agent_proxy.setSourceModel(self.agent_model)
        self.task_model: RecordTableModel[TaskInfo] = RecordTableModel(
            TASK_COLUMNS, key=lambda t: t.id, parent=self
        )
        self.task_proxy = TaskFilter(self)
        self.task_proxy.setSourceModel(self.task_model)

        self.action_bar = SwarmActionBar(self)
        self.stats_label = selectable_label("swarmStatsLabel", self)
        self.stats_label.setWordWrap(False)
        self.refresh_button = refresh_button(
            "swarmRefreshButton", "Read agents and tasks from the engine again", self.refresh, self
        )
        toolbar = panel_toolbar(self.action_bar, self.refresh_button)

        self.agent_table = swarm_table(
            "swarmAgentTable", self.agent_proxy, self.agent_model.widths(), self
        )
        self.task_table = swarm_table(
            "swarmTaskTable", self.task_proxy, self.task_model.widths(), self
        )
        self.setFocusProxy(self.agent_table)
        self.filters = TaskFilterBar(self)
        self.detail = SwarmDetail(self)

        agents_box = QWidget(self)
        agents_layout = QVBoxLayout(agents_box)
        agents_layout.setContentsMargins(0, 0, 0, 0)
        agents_layout.setSpacing(4)
        agents_layout.addWidget(self.agent_table, 1)
        tasks_box = QWidget(self)
        tasks_layout = QVBoxLayout(tasks_box)
        tasks_layout.setContentsMargins(0, 0, 0, 0)
        tasks_layout.setSpacing(4)
        tasks_head = QHBoxLayout()
        tasks_head.addWidget(section_label("Tasks", tasks_box))
        tasks_head.addWidget(self.filters, 1)
        tasks_layout.addLayout(tasks_head)
        tasks_layout.addWidget(self.task_table, 1)
        self.bottom_splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.bottom_splitter.setChildrenCollapsible(False)
        self.bottom_splitter.addWidget(tasks_box)
        self.bottom_splitter.addWidget(self.detail)
        self.bottom_splitter.setStretchFactor(0, 5)
        self.bottom_splitter.setStretchFactor(1, 4)
        self.bottom_splitter.setSizes([690, 560])
        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.setObjectName("swarmSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(agents_box)
        self.splitter.addWidget(self.bottom_splitter)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        self.splitter.setSizes([236, 440])

        self.status_label = selectable_label("swarmStatusLabel", self)
        self.status_label.setText("No action in this session yet")
        self.count_label = selectable_label("swarmCountLabel", self)
        footer = panel_footer(self.status_label, self.count_label, self.stats_label)
        panel_layout(self, toolbar, self.splitter, footer)

        self._agents_timer = self._timer(AGENTS_EVERY_MS, self.refresh_agents, single=False)
        self._tasks_timer = self._timer(TASKS_EVERY_MS, self.refresh_tasks)
        self._detail_timer = self._timer(DETAIL_DELAY_MS, self.load_detail)

        self.commands = SwarmCommands(bridge, self)
        self.commands.started.connect(self._started)
        self.commands.finished.connect(self._finished)
        self.action_bar.triggered.connect(self._triggered)
        self.filters.changed.connect(self._filters_changed)
        self.agent_table.selectionModel().selectionChanged.connect(self._agent_selected)
        self.task_table.selectionModel().selectionChanged.connect(self._task_selected)
        self.detail.graph.taskClicked.connect(self.select_task)
        bridge.swarmChanged.connect(self.apply_digest)
        bridge.sessionChanged.connect(self._session_changed)
        self._update_actions()
        self.refresh()

    def _timer(self, ms: int, slot: object, *, single: bool = True) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(single)
        timer.setInterval(ms)
        timer.timeout.connect(slot)
        return timer

    # -- visibility ------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._agents_timer.start()
        if self._stale:  # events arrived while hidden: read everything once
            self._stale = False
            self.refresh()
            self.schedule_detail()
        else:
            self.refresh_agents()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._agents_timer.stop()

    # -- reading ---------------------------------------------------------------------------
    def refresh(self) -> None:
        self.refresh_agents()
        self.refresh_tasks()

    def _can_read(self, what: str) -> bool:
        if self._bridge.closed or self._bridge.session is None:
            return False
        if what in self._loading:
            self._again.add(what)
            return False
        self._loading.add(what)
        return True

    def _done(self, what: str) -> None:
        self._loading.discard(what)
        if what in self._again:
            self._again.discard(what)
            if what == "tasks":
                self.schedule_tasks()
            else:
                self.refresh_agents()

    def refresh_agents(self) -> None:
        if not self._can_read("agents"):
            return

        async def read() -> tuple[list[AgentInfo], SwarmStats]:
            return await self._bridge.swarm.list_agents(), await self._bridge.swarm.stats()

        self._bridge.run(
            read(),
            on_success=self._agents_loaded,
            on_error=lambda exc: self._read_failed("agents", exc),
            title="Could not read the swarm",
            busy=False,  # once a second: not worth a "Working…" each time
        )

    def _agents_loaded(self, loaded: tuple[list[AgentInfo], SwarmStats]) -> None:
        agents, stats = loaded
        self._running = True
        self._set_agents(order_agents(agents))
        self.stats_label.setText(stats_text(stats))
        set_severity(self.stats_label, "critical" if stats.scheduler_note() else "muted")
        self._done("agents")
        self.agentsLoaded.emit(len(agents))

    def _set_agents(self, agents: list[AgentInfo]) -> None:
        selected = self.selected_agent()
        self.agent_model.merge(agents)
        if selected is not None and self.selected_agent() is None:
            self._select_row(self.agent_table, self.agent_proxy, self.agent_model, selected.id)
        self._update_actions()

    def schedule_tasks(self) -> None:
        """Re-read the tasks soon, at most once every :data:`TASKS_EVERY_MS`."""
        if self._tasks_timer.isActive():
            return
        since = (time.monotonic() - self._tasks_read_at) * 1000
        self._tasks_timer.start(int(max(0.0, TASKS_EVERY_MS - since)))

    def refresh_tasks(self) -> None:
        if not self._can_read("tasks"):
            return
        self._tasks_read_at = time.monotonic()
        self._bridge.run(
            self._bridge.swarm.list_tasks(),
            on_success=self._tasks_loaded,
            on_error=lambda exc: self._read_failed("tasks", exc),
            title="Could not read the swarm's tasks",
        )

    def _tasks_loaded(self, tasks: list[TaskInfo]) -> None:
        selected = self.selected_task()
        self.task_model.merge(tasks)
        self.filters.set_counts(state_counts(tasks))
        self.filters.set_scopes(scope_choices(tasks))
        unfinished = sum(not t.state.final for t in tasks)
        self.count_label.setText(f"{count(len(tasks), 'task')} listed ({unfinished} unfinished)")
        self._done("tasks")
        want = self._select_after or (selected.id if selected is not None else "")
        if want and self.select_task(want):
            self._select_after = ""
        current = self.selected_task()
        if current is not None and selected is not None and current != selected:
            self.schedule_detail()
        self._update_actions()
        self.tasksLoaded.emit(len(tasks))

    def _read_failed(self, what: str, exc: Exception) -> None:
        self._done(what)
        self._running = False
        show_failure(self.stats_label, "Could not read the swarm", exc)
        self._update_actions()

    # -- the selected task -----------------------------------------------------------------
    def schedule_detail(self) -> None:
        if not self._detail_timer.isActive():
            self._detail_timer.start()

    def load_detail(self) -> None:
        if self._bridge.closed:  # a timer that fired while the console shuts down
            return
        task = self.selected_task()
        self.detail.show_task(task)
        if task is None:
            return
        graph = self.detail.graph
        reload_graph = bool(task.graph_id) and (
            graph.graph_id != task.graph_id or task.id not in graph.nodes
        )
        bridge = self._bridge

        async def read() -> DetailData:
            record = await bridge.swarm.task_votes(task.id)
            attempts = await bridge.swarm.task_attempts(task.id)
            tasks = await bridge.swarm.graph_tasks(task.graph_id) if reload_graph else None
            return record, attempts, tasks

        self._bridge.run(
            read(),
            on_success=lambda data: self._detail_loaded(task, data),
            on_error=lambda exc: self._show_status(
                f"Could not read task {task_short(task.id)}: {describe_error(exc)}", "critical"
            ),
            title="Could not read the task",
        )

    def _detail_loaded(self, task: TaskInfo, data: DetailData) -> None:
        record, attempts, graph_tasks = data
        current = self.selected_task()
        if current is None or current.id != task.id:
            return
        self.detail.show_task(current)
        self.detail.set_votes(record)
        self.detail.set_attempts(attempts)
        graph = self.detail.graph
        if graph_tasks is not None:
            graph.show_graph(task.graph_id, graph_tasks, selected=task.id)
        elif not task.graph_id:
            graph.show_message(f"Task {task_short(task.id)} is not part of a decomposed job")
        else:
            graph.select(task.id)
        self.detailShown.emit(task.id)

    # -- live events -----------------------------------------------------------------------
    def apply_digest(self, digest: SwarmDigest) -> None:
        """Fold a digest of engine events into the tables and the graph view (while the
        panel is hidden, only remember to read everything again when it is shown)."""
        if not self.isVisible():
            self._stale = True
            return
        if digest.agents:
            self._apply_agents(digest.agents)
        if digest.tasks or digest.decided:
            self._apply_tasks(digest)
        selected = self.selected_task()
        if selected is not None and (selected.id in digest.tasks or selected.id in digest.decided):
            self.schedule_detail()

    def _apply_agents(self, changed: Mapping[str, tuple[AgentInfo, str]]) -> None:
        self._set_agents(fold_agents(self.agent_model.records(), changed))

    def _apply_tasks(self, digest: SwarmDigest) -> None:
        folded = fold_tasks(self.task_model.records(), digest, time.time())
        if folded.changed:
            self.task_model.merge(folded.rows)
        graph = self.detail.graph
        shown = graph.set_states({tid: e.state for tid, e in digest.tasks.items()})
        if (
            graph.graph_id
            and graph.graph_id in digest.graphs()
            and shown < sum(1 for e in digest.tasks.values() if e.graph_id == graph.graph_id)
        ):
            self.schedule_detail()  # tasks of the shown graph that it does not hold yet
        if folded.read_again:
            self.schedule_tasks()
        self._update_actions()

    # -- selection -------------------------------------------------------------------------
    def selected_agent(self) -> AgentInfo | None:
        rows = self.agent_table.selectionModel().selectedRows()
        agent = rows[0].data(RecordRole) if rows else None
        return agent if isinstance(agent, AgentInfo) else None

    def selected_task(self) -> TaskInfo | None:
        rows = self.task_table.selectionModel().selectedRows()
        task = rows[0].data(RecordRole) if rows else None
        return task if isinstance(task, TaskInfo) else None

    def select_agent(self, agent_id: str) -> bool:
        return self._select_row(self.agent_table, self.agent_proxy, self.agent_model, agent_id)

    def select_task(self, task_id: str) -> bool:
        """Select a task (clearing filters that hide it); False if it is not listed."""
        row = self.task_model.row_of(task_id)
        if row < 0:
            return False
        if not self.task_proxy.mapFromSource(self.task_model.index(row, 0)).isValid():
            self.filters.state_combo.setCurrentIndex(0)
            self.filters.scope_combo.setCurrentIndex(0)
            self.filters.text_edit.clear()
        return self._select_row(self.task_table, self.task_proxy, self.task_model, task_id)

    @staticmethod
    def _select_row(
        table: QTableView, proxy: QSortFilterProxyModel, model: RecordTableModel[Any], key: str
    ) -> bool:
        row = model.row_of(key)
        if row < 0:
            return False
        index = proxy.mapFromSource(model.index(row, 0))
        if not index.isValid():
            return False
        table.selectRow(index.row())
        table.scrollTo(index)
        return True

    def _agent_selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_actions()

    def _task_selected(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_actions()
        self.load_detail()

    def _filters_changed(self) -> None:
        self.task_proxy.set_filter(
            states=self.filters.states(), scope=self.filters.scope(), text=self.filters.text()
        )
        self._update_actions()

    # -- actions ---------------------------------------------------------------------------
    def _triggered(self, action: str) -> None:
        agent, task = self.selected_agent(), self.selected_task()
        if action == SPAWN:
            self.commands.spawn()
        elif action == SUBMIT:
            self.commands.submit()
        elif action == STOP and agent is not None:
            self.commands.stop(agent)
        elif action == KILL and agent is not None:
            self.commands.ask_kill(agent)
        elif action == CANCEL and task is not None:
            self.commands.cancel(task)

    def _update_actions(self) -> None:
        session = self._bridge.session
        self.action_bar.update_for(
            session.principal if session else None,
            self.selected_agent(),
            self.selected_task(),
            running=self._running,
            busy=frozenset(self._busy),
        )

    def _started(self, action: str, text: str) -> None:
        self._busy.add(action)
        self._show_status(text, "muted")
        self._update_actions()

    def _finished(self, action: str, ok: bool, text: str, severity: str, select: object) -> None:
        self._busy.discard(action)
        self._show_status(text, severity)
        if isinstance(select, str):
            self._select_after = select
        self._update_actions()
        self.refresh()
        self.actionFinished.emit(action, ok, text)

    def _show_status(self, text: str, severity: str) -> None:
        self.status_label.setText(text)
        set_severity(self.status_label, severity)

    def _session_changed(self, session: Session | None) -> None:
        self._update_actions()
        if session is not None:
            self.refresh()
