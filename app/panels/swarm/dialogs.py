"""Starting agents from the Swarm panel (non-modal: show it with ``open()``).

:class:`SpawnAgentsDialog` asks for a role (one of the usual ones or a new
name), how many agents, how many tasks each runs at once and, optionally,
capabilities tasks may require. The engine starts them (refusing what would
exceed ``swarm.max_agents``), audits it, and :attr:`succeeded` carries the
agents once they are ready.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from PySide6.QtWidgets import QComboBox, QLineEdit, QSpinBox, QWidget

from app.bridge import EngineBridge
from app.shared.form import FormDialog
from chimera_engine.swarm.models import ROLE_NAME, ROLES, AgentSpec

MAX_COUNT = 64


def parse_capabilities(text: str) -> frozenset[str]:
    """``"gpu, fast ssd"`` -> ``{"gpu", "fast-ssd"}`` (comma-separated, spaces inside a
    name become dashes).

    >>> sorted(parse_capabilities(" gpu, fast ssd ,,"))
    ['fast-ssd', 'gpu']
    """
    return frozenset("-".join(p.split()) for p in text.split(",") if p.strip())


class SpawnAgentsDialog(FormDialog):
    def __init__(
        self, bridge: EngineBridge, *, role: str = "executor", parent: QWidget | None = None
    ) -> None:
        super().__init__(
            bridge,
            name="spawnAgentsDialog",
            title="Spawn agents",
            heading="Spawn agents",
            text=(
                "Each agent is a process of its own that runs workspace tools as tasks of its "
                "role. They are started at once and listed when ready; the swarm refuses "
                "more than its configured maximum."
            ),
            submit="Spawn",
            busy="Starting…",
            parent=parent,
        )
        self.role_combo = QComboBox(self)
        self.role_combo.setObjectName("spawnRoleCombo")
        self.role_combo.setEditable(True)
        self.role_combo.addItems(list(ROLES))
        self.role_combo.setCurrentText(role)
        self.role_combo.setToolTip("A usual role or a new name (lower case, digits, - and _)")
        self.count_spin = QSpinBox(self)
        self.count_spin.setObjectName("spawnCountSpin")
        self.count_spin.setRange(1, MAX_COUNT)
        self.count_spin.setValue(1)
        self.concurrency_spin = QSpinBox(self)
        self.concurrency_spin.setObjectName("spawnConcurrencySpin")
        self.concurrency_spin.setRange(1, 256)
        self.concurrency_spin.setValue(4)
        self.concurrency_spin.setToolTip("How many tasks each agent runs at once")
        self.capabilities_edit = QLineEdit(self)
        self.capabilities_edit.setObjectName("spawnCapabilitiesEdit")
        self.capabilities_edit.setPlaceholderText("Optional, comma-separated: gpu, large-memory")
        self.form.addRow("Role", self.role_combo)
        self.form.addRow("Agents", self.count_spin)
        self.form.addRow("Tasks at once", self.concurrency_spin)
        self.form.addRow("Capabilities", self.capabilities_edit)
        self.finish_form()
        self.count_spin.setFocus()

    def role(self) -> str:
        return self.role_combo.currentText().strip()

    def spec(self) -> AgentSpec:
        return AgentSpec(
            role=self.role(),
            concurrency=self.concurrency_spin.value(),
            capabilities=parse_capabilities(self.capabilities_edit.text()),
        )

    def problem(self) -> str:
        if not ROLE_NAME.match(self.role()):
            return (
                f"{self.role()!r} is not a role name: start with a lower-case letter, then "
                "lower-case letters, digits, - or _ (at most 32)"
            )
        return ""

    def editors(self) -> list[QWidget]:
        return [self.role_combo, self.count_spin, self.concurrency_spin, self.capabilities_edit]

    def operation(self) -> Coroutine[Any, Any, object]:
        return self._bridge.swarm.spawn_agents(self.spec(), self.count_spin.value())
