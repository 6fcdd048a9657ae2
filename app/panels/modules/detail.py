"""Source and diff of module versions, fetched from the engine and cached.

A version's source never changes once recorded, so sources and diffs are cached
by version number; the cache is per panel and dropped with it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.bridge import EngineBridge
from app.panels.modules.rows import origin_text
from app.shared.diffs import diff_stats
from app.shared.formatting import format_time
from app.widgets.code_view import CodeView, DiffHighlighter, PythonHighlighter
from app.widgets.labels import selectable_label, show_failure
from app.widgets.style import set_severity
from chimera_engine.modules.service import VersionInfo

SOURCE_TAB, DIFF_TAB = 0, 1


class ModuleDetail(QTabWidget):
    """Tab "Source" (one version) and tab "Diff" (two versions of the same module)."""

    sourceShown = Signal(str, int)  # module, version
    diffShown = Signal(str, int, int)  # module, old, new

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("moduleDetailTabs")
        self.setDocumentMode(True)
        self._bridge = bridge
        self._sources: dict[tuple[str, int], str] = {}
        self._diffs: dict[tuple[str, int, int], str] = {}
        self._module = ""
        self._source_key: tuple[str, int] | None = None
        self._diff_key: tuple[str, int, int] | None = None

        source_page = QWidget(self)
        self.source_header = selectable_label("moduleSourceHeader", source_page)
        self.source_header.setText("Select a module or a version to see its source")
        self.source_view = CodeView("moduleSourceView", "No version selected", source_page)
        self.highlighter = PythonHighlighter(self.source_view.document())
        source_layout = QVBoxLayout(source_page)
        source_layout.setContentsMargins(0, 8, 0, 0)
        source_layout.setSpacing(6)
        source_layout.addWidget(self.source_header)
        source_layout.addWidget(self.source_view, 1)

        diff_page = QWidget(self)
        self.from_combo = QComboBox(diff_page)
        self.from_combo.setObjectName("moduleDiffFromCombo")
        self.to_combo = QComboBox(diff_page)
        self.to_combo.setObjectName("moduleDiffToCombo")
        for combo in (self.from_combo, self.to_combo):
            combo.setMinimumContentsLength(9)
            combo.currentIndexChanged.connect(self._combos_changed)
        self.diff_header = selectable_label("moduleDiffHeader", diff_page)
        self.diff_view = CodeView("moduleDiffView", "Select two versions to compare", diff_page)
        self.diff_highlighter = DiffHighlighter(self.diff_view.document())
        pick = QHBoxLayout()
        pick.setSpacing(6)
        pick.addWidget(QLabel("From", diff_page))
        pick.addWidget(self.from_combo, 1)
        pick.addWidget(QLabel("to", diff_page))
        pick.addWidget(self.to_combo, 1)
        diff_layout = QVBoxLayout(diff_page)
        diff_layout.setContentsMargins(0, 8, 0, 0)
        diff_layout.setSpacing(6)
        diff_layout.addLayout(pick)
        diff_layout.addWidget(self.diff_header)
        diff_layout.addWidget(self.diff_view, 1)

        self.addTab(source_page, "Source")
        self.addTab(diff_page, "Diff")

    # -- source ----------------------------------------------------------------------------
    def show_version(self, info: VersionInfo) -> None:
        key = (info.module, info.version)
        self._source_key = key
        self.update_header(info)
        cached = self._sources.get(key)
        if cached is not None:
            self._source_loaded(key, cached)
            return
        self._bridge.run(
            self._bridge.modules.version_source(info.module, info.version),
            on_success=lambda text: self._source_loaded(key, text),
            on_error=lambda exc: self._source_failed(key, exc),
            title="Could not load the source",
        )

    def update_header(self, info: VersionInfo) -> None:
        """Describe ``info`` above the source if it is the version shown."""
        if (info.module, info.version) != self._source_key:
            return
        state = "active" if info.active else info.state
        self.source_header.setText(
            f"{info.module}.py  v{info.version} · {state} · {origin_text(info)} · "
            f"{format_time(info.created_at)} · sha256 {info.content_hash[:12]}"
        )
        set_severity(self.source_header, "critical" if info.state == "failed" else "muted")
        if info.state == "failed" and info.error:
            self.source_header.setToolTip(f"Refused: {info.error}")
        else:
            self.source_header.setToolTip("")

    def _source_loaded(self, key: tuple[str, int], text: str) -> None:
        self._sources[key] = text
        if key != self._source_key:
            return
        self.source_view.show_text(text)
        self.sourceShown.emit(*key)

    def _source_failed(self, key: tuple[str, int], exc: Exception) -> None:
        if key == self._source_key:
            self.source_view.show_text("")
            show_failure(self.source_header, "Could not load the source", exc)

    def source_key(self) -> tuple[str, int] | None:
        return self._source_key

    # -- diff ------------------------------------------------------------------------------
    def set_versions(self, module: str, versions: list[VersionInfo], old: int, new: int) -> None:
        """Offer ``versions`` (newest first) in the combos and compare ``old`` with ``new``."""
        self._module = module
        for combo, wanted in ((self.from_combo, old), (self.to_combo, new)):
            combo.blockSignals(True)
            combo.clear()
            for info in versions:
                suffix = " (active)" if info.active else f" ({info.state})"
                combo.addItem(f"v{info.version}{suffix}", info.version)
            combo.setCurrentIndex(max(0, combo.findData(wanted)))
            combo.blockSignals(False)
        self._combos_changed()

    def refresh_versions(self, versions: list[VersionInfo]) -> None:
        """The module's versions changed (a reload, an activation): offer the new list
        and states, keeping the pair being compared."""
        old, new = self.from_combo.currentData(), self.to_combo.currentData()
        if not self._module or old is None or new is None:
            return
        self.set_versions(self._module, versions, int(old), int(new))

    @property
    def diff_module(self) -> str:
        return self._module

    def compare(self, old: int, new: int) -> None:
        self.from_combo.setCurrentIndex(self.from_combo.findData(old))
        self.to_combo.setCurrentIndex(self.to_combo.findData(new))

    def _combos_changed(self) -> None:
        old, new = self.from_combo.currentData(), self.to_combo.currentData()
        if not self._module or old is None or new is None:
            return
        key = (self._module, int(old), int(new))
        if key == self._diff_key:
            return
        self._diff_key = key
        if old == new:
            self._diff_loaded(key, "")
            return
        cached = self._diffs.get(key)
        if cached is not None:
            self._diff_loaded(key, cached)
            return
        self.diff_header.setText("Computing the diff…")
        set_severity(self.diff_header, "muted")
        self._bridge.run(
            self._bridge.modules.diff_versions(*key),
            on_success=lambda text: self._diff_loaded(key, text),
            on_error=lambda exc: self._diff_failed(key, exc),
            title="Could not compute the diff",
        )

    def _diff_loaded(self, key: tuple[str, int, int], text: str) -> None:
        self._diffs[key] = text
        if key != self._diff_key:
            return
        module, old, new = key
        if text:
            added, removed = diff_stats(text)
            self.diff_header.setText(f"v{old} → v{new}:  +{added}  −{removed} lines")
        else:
            self.diff_header.setText(f"v{old} and v{new} have identical source")
        set_severity(self.diff_header, "muted")
        self.diff_view.show_text(text)
        self.diffShown.emit(module, old, new)

    def _diff_failed(self, key: tuple[str, int, int], exc: Exception) -> None:
        if key == self._diff_key:
            self._diff_key = None
            self.diff_view.show_text("")
            show_failure(self.diff_header, "Could not compute the diff", exc)

    def diff_key(self) -> tuple[str, int, int] | None:
        return self._diff_key
