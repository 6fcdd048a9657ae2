"""What may be done in the Swarm panel, and the buttons that do it.

A button is enabled by the signed-in user's permission (a missing one disables
it, and the tooltip names the permission) and by the selection: only a live
agent can be stopped or killed, only an unfinished task cancelled. The engine
checks the permission again on every request and audits what it does; this
only avoids offering what would be refused.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from app.shared.permissions import missing_permission
from app.widgets.action_bar import Availability, named_action_button
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.models import AgentInfo, AgentState, TaskInfo

SPAWN, STOP, KILL, SUBMIT, CANCEL = "spawn", "stop", "kill", "submit", "cancel"

PERMISSIONS: dict[str, Permission] = {
    SPAWN: Permission.SWARM_SPAWN,
    STOP: Permission.SWARM_SPAWN,
    KILL: Permission.SWARM_SPAWN,
    SUBMIT: Permission.SWARM_TASK,
    CANCEL: Permission.SWARM_TASK,
}


def availability(
    action: str,
    principal: Principal | None,
    agent: AgentInfo | None,
    task: TaskInfo | None,
    *,
    running: bool = True,
) -> Availability:
    """Whether ``action`` is offered and the tooltip saying why (not). ``running`` is
    False when the engine's swarm is not running."""
    missing = missing_permission(principal, PERMISSIONS[action])
    if missing:
        return Availability(False, missing)
    if not running:
        return Availability(False, "The swarm is not running in this engine")
    if action == SPAWN:
        return Availability(True, "Start agents of a role you choose")
    if action == SUBMIT:
        return Availability(True, "Run a workspace tool as a task (or a job split into a graph)")
    if action in (STOP, KILL):
        if agent is None:
            return Availability(False, "Select an agent first")
        if agent.state.final:
            return Availability(False, f"Agent {agent.id} is already {agent.state.value}")
        if action == STOP:
            if agent.state is AgentState.STOPPING:
                return Availability(False, f"Agent {agent.id} is already stopping")
            return Availability(True, f"Stop {agent.id} once its running tasks are done")
        return Availability(
            True, f"Kill {agent.id} at once (SIGKILL); its tasks go to other agents"
        )
    if task is None:
        return Availability(False, "Select a task first")
    if task.state.final:
        return Availability(False, f"Task {task.id[:8]} is already {task.state.value}")
    return Availability(True, f"Cancel task {task.id[:8]} (running attempts are told to stop)")


class SwarmActionBar(QWidget):
    """One signal for every button; the panel decides what to do with it."""

    triggered = Signal(str)  # the action

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("swarmActionBar")
        self.spawn_button = self._button("Spawn agents…", SPAWN, "swarmSpawnButton")
        self.stop_button = self._button("Stop agent", STOP, "swarmStopButton")
        self.kill_button = self._button("Kill agent…", KILL, "swarmKillButton")
        self.submit_button = self._button("Submit task…", SUBMIT, "swarmSubmitButton")
        self.cancel_button = self._button("Cancel task", CANCEL, "swarmCancelButton")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        for button in (self.spawn_button, self.stop_button, self.kill_button):
            layout.addWidget(button)
        layout.addSpacing(14)
        layout.addWidget(self.submit_button)
        layout.addWidget(self.cancel_button)
        self.update_for(None, None, None)

    def _button(self, text: str, action: str, name: str) -> QPushButton:
        return named_action_button(text, action, name, self, self.triggered.emit)

    def buttons(self) -> list[QPushButton]:
        return [
            self.spawn_button,
            self.stop_button,
            self.kill_button,
            self.submit_button,
            self.cancel_button,
        ]

    def update_for(
        self,
        principal: Principal | None,
        agent: AgentInfo | None,
        task: TaskInfo | None,
        *,
        running: bool = True,
        busy: frozenset[str] = frozenset(),
    ) -> None:
        """Enable each button; ``busy`` lists actions whose request is under way."""
        for button in self.buttons():
            action = str(button.property("action"))
            state = availability(action, principal, agent, task, running=running)
            button.setEnabled(state.enabled and action not in busy)
            button.setToolTip(state.tip)
