"""The Hunks tab of the Patch review panel: tick the hunks of a patch to keep.

Each hunk of the module change is a row with a check box; the selected row's
lines are shown beside the list. *Keep ticked hunks* asks the engine for a
narrower patch made of them (with all the new tests): it is tested in the
sandbox again before it can be approved; once it passes, the original becomes
superseded by it. The button is offered only where that makes sense: a ready or rejected
patch of more than one hunk, some but not all of them ticked, and a user
holding ``patch.approve``.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from app.shared.badges import state_label
from app.shared.permissions import missing_permission
from app.widgets.code_view import CodeView, DiffHighlighter
from app.widgets.style import set_severity
from chimera_engine.patches.hunks import Hunk
from chimera_engine.patches.models import Patch, PatchState
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

NARROWABLE = frozenset({PatchState.READY, PatchState.REJECTED})
INTRO = (
    "Tick the hunks to keep. The new tests go with them; the narrower patch is tested "
    "in the sandbox again before it can be approved, and once it passes it supersedes "
    "this one."
)


def hunk_title(hunk: Hunk) -> str:
    """How a hunk reads in the list (numbered from 1 for people).

    >>> hunk_title(Hunk(index=0, path="tools/m.py", header="@@ -4,3 +4,5 @@", text="",
    ...                 added=2, removed=0))
    'Hunk 1 · tools/m.py · @@ -4,3 +4,5 @@ · +2 −0'
    """
    return f"Hunk {hunk.index + 1} · {hunk.path} · {hunk.header} · +{hunk.added} −{hunk.removed}"


def keep_availability(
    principal: Principal | None, patch: Patch | None, total: int, ticked: int
) -> tuple[bool, str]:
    """Whether *Keep ticked hunks* is offered, and the tooltip saying why (not)."""
    missing = missing_permission(principal, Permission.PATCH_APPROVE)
    if missing:
        return False, missing
    if patch is None:
        return False, "Select a patch first"
    if patch.state not in NARROWABLE:
        return False, (
            f"Patch {patch.id} is {state_label(patch.state.value)}: only ready or rejected "
            "patches can be narrowed to some hunks"
        )
    if total < 2:
        return False, "This patch has a single hunk: approve, reject or edit it as a whole"
    if ticked == 0:
        return False, "Tick at least one hunk: keeping none leaves nothing"
    if ticked == total:
        return False, "Every hunk is ticked: that is the patch itself; untick the ones to drop"
    return True, f"Make a patch of the {ticked} ticked hunks of {total} and test it"


class HunkPicker(QWidget):
    """:attr:`keepRequested` (patch id, hunk indices from 0) when the button is pressed."""

    keepRequested = Signal(int, list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("patchHunks")
        self.patch: Patch | None = None
        self.hunks: list[Hunk] = []
        self._principal: Principal | None = None
        self._busy = False
        self.intro_label = QLabel(INTRO, self)
        self.intro_label.setObjectName("patchHunksIntro")
        self.intro_label.setWordWrap(True)
        set_severity(self.intro_label, "muted")
        self.list = QListWidget(self)
        self.list.setObjectName("patchHunkList")
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view = CodeView("patchHunkView", "Select a hunk to see its lines", self)
        self.highlighter = DiffHighlighter(self.view.document())
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.list)
        splitter.addWidget(self.view)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        self.keep_button = QPushButton("Keep ticked hunks", self)
        self.keep_button.setObjectName("patchKeepHunksButton")
        self.keep_button.clicked.connect(self._keep)
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("patchHunksSummary")
        set_severity(self.summary_label, "muted")
        row = QHBoxLayout()
        row.addWidget(self.summary_label, 1)
        row.addWidget(self.keep_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.intro_label)
        layout.addWidget(splitter, 1)
        layout.addLayout(row)
        self.list.itemChanged.connect(lambda _item: self._update())
        self.list.currentRowChanged.connect(self._show_hunk)
        self._update()

    def ticked(self) -> list[int]:
        """The indices (from 0) of the ticked hunks."""
        return [
            i
            for i in range(self.list.count())
            if self.list.item(i).checkState() == Qt.CheckState.Checked
        ]

    def set_ticked(self, indices: list[int]) -> None:
        for i in range(self.list.count()):
            state = Qt.CheckState.Checked if i in indices else Qt.CheckState.Unchecked
            self.list.item(i).setCheckState(state)

    def show_hunks(self, patch: Patch, hunks: list[Hunk]) -> None:
        """Show ``patch``'s hunks, every one ticked (the patch as it stands)."""
        same = self.patch is not None and self.patch.id == patch.id and hunks == self.hunks
        self.patch = patch
        if not same:
            self.hunks = hunks
            self.list.blockSignals(True)
            self.list.clear()
            for hunk in hunks:
                item = QListWidgetItem(hunk_title(hunk), self.list)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
            self.list.blockSignals(False)
            self.list.setCurrentRow(0 if hunks else -1)
            self._show_hunk(self.list.currentRow())
        self._update()

    def clear(self) -> None:
        self.patch = None
        self.hunks = []
        self.list.clear()
        self.view.show_text("")
        self._update()

    def set_context(self, principal: Principal | None, *, busy: bool) -> None:
        self._principal = principal
        self._busy = busy
        self._update()

    def _show_hunk(self, row: int) -> None:
        self.view.show_text(self.hunks[row].text if 0 <= row < len(self.hunks) else "")

    def _update(self) -> None:
        total, ticked = len(self.hunks), len(self.ticked())
        enabled, tip = keep_availability(self._principal, self.patch, total, ticked)
        self.keep_button.setEnabled(enabled and not self._busy)
        self.keep_button.setToolTip(tip)
        if self.patch is None:
            self.summary_label.setText("")
        elif total < 2:
            self.summary_label.setText(
                "A single hunk: nothing to pick from; approve, reject or edit the patch as a whole."
            )
        else:
            self.summary_label.setText(f"{ticked} of {total} hunks ticked")

    def _keep(self) -> None:
        if self.patch is not None and self.keep_button.isEnabled():
            self.keepRequested.emit(self.patch.id, self.ticked())
