"""The Patch review panel's pieces, built and styled in one place: the queue table,
the state filter, the progress banner of a running generation, the shortcuts."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QTableView,
    QWidget,
)

from app.panels.patches.filter import FILTERS
from app.shared.badges import state_label
from app.theme import set_themed_style
from app.widgets.badges import badge_table

BANNER_STYLE = """
QFrame#patchProgress { background: #eef4ff; border: 1px solid #c7d7fe; border-radius: 6px; }
QFrame#patchProgress QLabel { background: transparent; border: none; color: #1d3f8f; }
QProgressBar#patchProgressBar { border: 1px solid #c7d7fe; border-radius: 3px;
    background: #ffffff; max-height: 8px; }
QProgressBar#patchProgressBar::chunk { background: #2f6fed; }
"""


def queue_table(
    model: QSortFilterProxyModel, widths: dict[int, int], parent: QWidget
) -> QTableView:
    """The patch queue: one row per patch, badges for state, risk and scripted answers."""
    return badge_table("patchQueueTable", model, widths, parent)


def state_filter(parent: QWidget) -> QComboBox:
    combo = QComboBox(parent)
    combo.setObjectName("patchStateFilter")
    combo.setToolTip("Show only the patches in these states")
    for label, states in FILTERS:
        combo.addItem(label, states)
    # Narrow enough that every action button keeps its whole label at 1024 px.
    combo.setMinimumContentsLength(12)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    return combo


def set_filter_counts(combo: QComboBox, counts: list[int]) -> None:
    for row, ((label, _states), count) in enumerate(zip(FILTERS, counts, strict=True)):
        combo.setItemText(row, f"{label} ({count})")


class GenerationBanner(QFrame):
    """A running patch generation: an indeterminate bar, elapsed time, latest step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patchProgress")
        set_themed_style(self, BANNER_STYLE)
        self.bar = QProgressBar(self)
        self.bar.setObjectName("patchProgressBar")
        self.bar.setRange(0, 0)  # indeterminate: the provider gives no progress
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(140)
        self.label = QLabel(self)
        self.label.setObjectName("patchProgressLabel")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(10)
        layout.addWidget(self.bar)
        layout.addWidget(self.label, 1)
        self.module = ""
        self.step = ""
        self._started = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._render)
        self.hide()

    def begin(self, module: str) -> None:
        self.module = module
        self.step = "asking the model"
        self._started = time.monotonic()
        self._timer.start()
        self._render()
        self.show()

    def progress(self, patch_id: int, state: str) -> None:
        """A patch of the module being generated changed state."""
        steps = {
            "proposed": f"patch {patch_id} received",
            "testing": f"patch {patch_id} being tested in the sandbox",
            "rejected": f"patch {patch_id} failed; asking again",
            "ready": f"patch {patch_id} passed the sandbox",
        }
        self.step = steps.get(state, f"patch {patch_id} {state_label(state)}")
        self._render()

    def streamed(self, attempt: int, pieces: int, elapsed: float) -> None:
        """An answer is streaming in: about ``pieces`` tokens so far."""
        self.step = f"attempt {attempt}: the model has written {pieces:,} tokens so far"
        self._render()

    def end(self) -> None:
        self._timer.stop()
        self.module = ""
        self.hide()

    def _render(self) -> None:
        elapsed = time.monotonic() - self._started
        self.label.setText(
            f"Generating a patch for {self.module}… {elapsed:.0f} s · {self.step}. "
            "You can keep working meanwhile."
        )


def panel_shortcuts(
    panel: QWidget, bindings: Mapping[str, Callable[[], object]]
) -> dict[str, QShortcut]:
    """Single-key shortcuts active only while ``panel`` or one of its children has the
    focus (never while typing: text fields take printable keys first)."""
    shortcuts: dict[str, QShortcut] = {}
    for key, slot in bindings.items():
        shortcut = QShortcut(QKeySequence(key), panel)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)
        shortcuts[key] = shortcut
    return shortcuts
