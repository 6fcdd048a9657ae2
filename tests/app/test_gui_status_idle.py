"""The status bar at rest: a new loop-lag reading every second repaints the lag pill
only; it never makes Qt lay out (and repaint) the whole status bar and the window."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QMainWindow
from pytestqt.qtbot import QtBot

from app.widgets.status import LagIndicator


class LayoutRequests(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_a_new_lag_reading_does_not_lay_out_the_status_bar(qtbot: QtBot) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    bar = window.statusBar()
    bar.addPermanentWidget(QLabel("Engine running"))
    pill = LagIndicator()
    bar.addPermanentWidget(pill)
    window.resize(900, 300)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    size = pill.size()
    requests = LayoutRequests()
    bar.installEventFilter(requests)
    for p99 in (1.2, 3.45, 18.0, 73.9, 1234.5, 0.4):
        pill.set_p99(p99)
        qtbot.wait(20)
        assert pill.text() == f"Loop lag p99 {p99:.1f} ms"
        assert pill.size() == size
    assert requests.count == 0
    # The widest reading it is sized for fits.
    pill.set_p99(8888.8)
    assert pill.fontMetrics().horizontalAdvance(pill.text()) < pill.contentsRect().width()
