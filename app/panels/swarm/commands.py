"""Runs the Swarm panel's requests (spawn, stop, kill, submit, cancel) and words their
outcome.

Dialogs are non-modal and one at a time; killing asks for confirmation first.
Every request goes through the bridge to the authorised facade, so the engine
checks the permission and audits it; refusals come back through
:attr:`SwarmCommands.finished` with ``ok=False`` and the engine's reason.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from app.bridge import EngineBridge, describe_error
from app.panels.swarm.dialogs import SpawnAgentsDialog
from app.panels.swarm.submit_dialog import SubmitTaskDialog
from app.widgets.confirm import confirm
from app.widgets.plural import count
from chimera_engine.modules.service import ToolInfo
from chimera_engine.swarm.models import AgentInfo, TaskInfo
from chimera_engine.swarm.submission import GraphInfo


def spawned_message(agents: list[AgentInfo]) -> str:
    """The status line after agents were started.

    >>> from types import SimpleNamespace as A
    >>> spawned_message([A(id="executor-1", role="executor")])
    'Agent executor-1 (executor) is ready'
    >>> spawned_message([A(id="a", role="tester"), A(id="b", role="tester")])
    '2 tester agents are ready: a, b'
    """
    if len(agents) == 1:
        return f"Agent {agents[0].id} ({agents[0].role}) is ready"
    roles = sorted({a.role for a in agents})
    return f"{len(agents)} {'/'.join(roles)} agents are ready: {', '.join(a.id for a in agents)}"


class SwarmCommands(QObject):
    """:attr:`started` (action, text) when a request leaves; :attr:`finished` (action, ok,
    text, severity, what to select: a task id, or None)."""

    started = Signal(str, str)
    finished = Signal(str, bool, str, str, object)

    def __init__(self, bridge: EngineBridge, parent: QWidget) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._parent = parent
        self.dialog: QDialog | None = None
        self.confirm_box: QMessageBox | None = None

    # -- agents ----------------------------------------------------------------------------
    def spawn(self) -> None:
        dialog = SpawnAgentsDialog(self._bridge, parent=self._parent)
        dialog.succeeded.connect(self._spawned)
        self._show(dialog)

    def _spawned(self, agents: object) -> None:
        listed = [a for a in agents if isinstance(a, AgentInfo)] if isinstance(agents, list) else []
        self.finished.emit("spawn", True, spawned_message(listed), "ok", None)

    def stop(self, agent: AgentInfo) -> None:
        self.started.emit("stop", f"Stopping {agent.id} once its running tasks are done…")
        self._bridge.run(
            self._bridge.swarm.stop_agent(agent.id),
            on_success=lambda info: self._stopped("stop", info),
            on_error=lambda exc: self._failed("stop", f"stop {agent.id}", exc),
            title="Could not stop the agent",
        )

    def ask_kill(self, agent: AgentInfo) -> QMessageBox:
        """Ask before killing; the kill runs only if confirmed."""
        busy = (
            f"It holds {agent.in_flight} task(s); they go to other agents. "
            if agent.in_flight
            else ""
        )
        box = confirm(
            self._parent,
            "Kill agent",
            f"Kill {agent.id} now?",
            "Kill agent",
            lambda: self.kill(agent),
            detail=f"{busy}The process (pid {agent.pid or '—'}) gets SIGKILL; this is audited.",
        )
        self.confirm_box = box
        return box

    def kill(self, agent: AgentInfo) -> None:
        self.started.emit("kill", f"Killing {agent.id}…")
        self._bridge.run(
            self._bridge.swarm.stop_agent(agent.id, kill=True),
            on_success=lambda info: self._stopped("kill", info),
            on_error=lambda exc: self._failed("kill", f"kill {agent.id}", exc),
            title="Could not kill the agent",
        )

    def _stopped(self, action: str, info: AgentInfo) -> None:
        verb = "killed" if action == "kill" else "stopped"
        ok = info.state.final
        text = f"Agent {info.id} {verb}" if ok else f"Agent {info.id} is {info.state.value}"
        if action == "kill" and ok:
            text += "; its tasks are reassigned to other agents"
        self.finished.emit(action, ok, text, "ok" if ok else "warn", None)

    # -- tasks -----------------------------------------------------------------------------
    def submit(self) -> None:
        self._bridge.run(
            self._bridge.swarm.tools(),
            on_success=self._tools_listed,
            on_error=lambda exc: self._failed("submit", "list the workspace's tools", exc),
            title="Could not list the tools",
        )

    def _tools_listed(self, tools: list[ToolInfo]) -> None:
        dialog = SubmitTaskDialog(self._bridge, tools, parent=self._parent)
        dialog.succeeded.connect(self._submitted)
        self._show(dialog)

    def _submitted(self, result: object) -> None:
        if isinstance(result, GraphInfo):
            last = result.outputs[-1] if result.outputs else None
            tasks = count(len(result.tasks), "task")
            text = f"Job submitted as a graph of {tasks} ({result.id[:8]})"
            self.finished.emit("submit", True, text, "ok", last)
        elif isinstance(result, TaskInfo):
            note = " (an identical submission: the earlier task)" if result.duplicate else ""
            text = f"Task {result.id[:8]} submitted: {result.tool or 'prompt'}{note}"
            self.finished.emit("submit", True, text, "ok", result.id)

    def cancel(self, task: TaskInfo) -> None:
        self.started.emit("cancel", f"Cancelling task {task.id[:8]}…")
        self._bridge.run(
            self._bridge.swarm.cancel_task(task.id),
            on_success=lambda info: self.finished.emit(
                "cancel", True, f"Task {info.id[:8]} is {info.state.value}", "ok", info.id
            ),
            on_error=lambda exc: self._failed("cancel", f"cancel task {task.id[:8]}", exc),
            title="Could not cancel the task",
        )

    # -- plumbing --------------------------------------------------------------------------
    def _show(self, dialog: QDialog) -> None:
        if self.dialog is not None:
            with contextlib.suppress(RuntimeError):  # deleted on close
                self.dialog.close()
        self.dialog = dialog
        dialog.open()

    def _failed(self, action: str, what: str, exc: Exception) -> None:
        self.finished.emit(
            action, False, f"Could not {what}: {describe_error(exc)}", "critical", None
        )
