"""The Demo menu: run or pause the demo workload, turn the fault schedule on or off, and
inject or clear each fault by hand.

Every entry goes through the facade as the signed-in user (``demo.control``; refusals
and changes are audited by the engine). The menu re-reads the demo's state each time it
opens, so its ticks say what is true now, whoever changed it.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu

from app.bridge import EngineBridge
from app.widgets.style import set_severity
from chimera_engine.demo.faults import FAULTS, FaultState, FaultStatus
from chimera_engine.demo.runner import DemoStatus
from chimera_engine.security.permissions import Permission

#: How often the status bar's demo state is read (milliseconds).
STATUS_POLL_MS = 5000
IN_FORCE = (FaultState.ACTIVE.value, FaultState.DEGRADED.value)


class DemoMenu(QObject):
    """Adds "&Demo" to ``window``'s menu bar."""

    def __init__(self, window: QMainWindow, bridge: EngineBridge) -> None:
        super().__init__(window)
        self._bridge = bridge
        self.status: DemoStatus | None = None
        self.menu: QMenu = window.menuBar().addMenu("&Demo")
        self.menu.setObjectName("demoMenu")
        self.menu.setToolTipsVisible(True)
        self.workload_action = QAction("Run the demo &workload", self.menu)
        self.workload_action.setObjectName("demoWorkloadAction")
        self.workload_action.setCheckable(True)
        self.workload_action.setStatusTip("Call the demo tools at a steady rate (pause: uncheck)")
        self.workload_action.triggered.connect(self._toggle_workload)
        self.schedule_action = QAction("Inject faults on a &schedule", self.menu)
        self.schedule_action.setObjectName("demoScheduleAction")
        self.schedule_action.setCheckable(True)
        self.schedule_action.triggered.connect(self._toggle_schedule)
        self.menu.addAction(self.workload_action)
        self.menu.addAction(self.schedule_action)
        self.menu.addSeparator()
        self.fault_actions: dict[str, QAction] = {}
        for name, fault in FAULTS.items():
            action = QAction(f"Fault: {fault.title}", self.menu)
            action.setObjectName(f"demoFault-{name}")
            action.setCheckable(True)
            action.setStatusTip(f"Inject (tick) or clear (untick) the {name} fault")
            action.triggered.connect(lambda checked, n=name: self.set_fault(n, checked))
            self.menu.addAction(action)
            self.fault_actions[name] = action
        self.menu.aboutToShow.connect(self.refresh)
        # The status bar says whether the demo runs (an operator wondering why the
        # charts are flat should see "Demo paused" without opening a menu).
        self.indicator = QLabel("", window)
        self.indicator.setObjectName("demoIndicator")
        self.indicator.setProperty("statusPill", True)  # padded like its neighbours
        self.indicator.hide()
        window.statusBar().addPermanentWidget(self.indicator)
        self._poll = QTimer(self)
        self._poll.setInterval(STATUS_POLL_MS)
        self._poll.timeout.connect(lambda: self.refresh(quiet=True))
        self._poll.start()
        self._apply_permission()
        self.refresh(quiet=True)

    def _actions(self) -> list[QAction]:
        return [self.workload_action, self.schedule_action, *self.fault_actions.values()]

    def _apply_permission(self) -> None:
        session = self._bridge.session
        allowed = session is not None and session.principal.can(Permission.DEMO_CONTROL)
        tip = "" if allowed else f"Needs the {Permission.DEMO_CONTROL.value} permission"
        for action in self._actions():
            action.setEnabled(allowed)
            action.setToolTip(tip or action.statusTip())

    # -- reading -----------------------------------------------------------------------------
    def refresh(self, quiet: bool = False) -> None:
        """Read the demo's state (``quiet``: the status bar's poll, which never shows an
        error box: the indicator is hidden instead)."""
        self._apply_permission()
        if self._bridge.session is None or self._bridge.closed:
            return
        self._bridge.run(
            self._bridge.demo.status(),
            on_success=self.show_status,
            on_error=(lambda _exc: self.indicator.hide()) if quiet else None,
            title="Could not read the demo's state",
            busy=False,
        )

    def show_status(self, status: DemoStatus) -> None:
        self.status = status
        state = status.workload.state
        if state in ("running", "paused"):
            self.indicator.setText(f"Demo {state}")
            self.indicator.setToolTip(
                f"The demo workload: {status.workload.calls} calls so far at "
                f"{status.workload.rate:g}/s; Demo > Run the demo workload pauses or resumes it"
            )
            set_severity(self.indicator, "ok" if state == "running" else "warn")
            self.indicator.show()
        else:
            self.indicator.hide()
        self.workload_action.setChecked(status.workload.state == "running")
        self.schedule_action.setChecked(status.schedule)
        for fault in status.faults:
            action = self.fault_actions.get(fault.name)
            if action is not None:
                action.setChecked(fault.state in IN_FORCE)

    # -- acting ------------------------------------------------------------------------------
    def _toggle_workload(self, checked: bool) -> None:
        demo = self._bridge.demo
        # starting a paused workload resumes it
        call = demo.start() if checked else demo.pause()
        self._bridge.run(
            call, on_success=lambda s: self._workload_set(s, checked), title="Demo workload"
        )

    def _workload_set(self, status: DemoStatus, running: bool) -> None:
        self.show_status(status)  # a workload just started begins its first call a moment later
        self.workload_action.setChecked(running)

    def _toggle_schedule(self, checked: bool) -> None:
        self._bridge.run(
            self._bridge.demo.schedule(checked),
            on_success=self.show_status,
            title="Demo fault schedule",
        )

    def set_fault(self, name: str, inject: bool) -> None:
        demo = self._bridge.demo
        call = demo.trigger(name) if inject else demo.clear(name)
        self._bridge.run(call, on_success=self._fault_changed, title=f"Fault {name}")

    def _fault_changed(self, fault: FaultStatus) -> None:
        action = self.fault_actions.get(fault.name)
        if action is not None:
            action.setChecked(fault.state in IN_FORCE)
        self.refresh()
