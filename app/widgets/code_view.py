"""Read-only code views: Python source with simple highlighting, and unified diffs.

The highlighters are deliberately simple (regular expressions per line, one
block state for triple-quoted strings): enough to read a tool module at a glance.
"""

from __future__ import annotations

import keyword
import re

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import (
    QFont,
    QFontDatabase,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from app.theme import current_theme, themed


def monospace_font(point_size: int = 9) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setPointSize(point_size)
    return font


def char_format(
    colour: str, *, bold: bool = False, italic: bool = False, background: str = ""
) -> QTextCharFormat:
    """A text format in ``colour`` (chosen for the light theme, shown as the theme in force)."""
    fmt = QTextCharFormat()
    fmt.setForeground(themed(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    if italic:
        fmt.setFontItalic(True)
    if background:
        fmt.setBackground(themed(background))
    return fmt


class ThemedHighlighter(QSyntaxHighlighter):
    """A highlighter whose formats follow the theme: :meth:`recolour` after a switch."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._themed: list[tuple[QTextCharFormat, str, str]] = []

    def themed_format(
        self, colour: str, *, bold: bool = False, italic: bool = False, background: str = ""
    ) -> QTextCharFormat:
        fmt = char_format(colour, bold=bold, italic=italic, background=background)
        self._themed.append((fmt, colour, background))
        return fmt

    def recolour(self) -> None:
        for fmt, colour, background in self._themed:
            fmt.setForeground(themed(colour))
            if background:
                fmt.setBackground(themed(background))
        self.rehighlight()


_BUILTINS = frozenset(
    {
        *("abs", "all", "any", "bool", "bytes", "callable", "dict", "dir", "enumerate"),
        *("filter", "float", "format", "frozenset", "getattr", "hasattr", "hash", "int"),
        *("isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next"),
        *("object", "open", "print", "range", "repr", "reversed", "round", "set", "setattr"),
        *("sorted", "str", "sum", "super", "tuple", "type", "zip"),
    }
)


_TRIPLE_QUOTE = re.compile(r"\"\"\"|'''")


class PythonHighlighter(ThemedHighlighter):
    """Keywords, builtins, decorators, definitions, numbers, strings and comments."""

    _IN_TRIPLE_DOUBLE = 1
    _IN_TRIPLE_SINGLE = 2

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.keyword_format = self.themed_format("#7c3aed", bold=True)
        self.builtin_format = self.themed_format("#1d5bd8")
        self.decorator_format = self.themed_format("#b54708")
        self.definition_format = self.themed_format("#0e7490", bold=True)
        self.number_format = self.themed_format("#b42318")
        self.string_format = self.themed_format("#05603a")
        self.comment_format = self.themed_format("#7b8794", italic=True)
        words = "|".join([*keyword.kwlist, *keyword.softkwlist])
        self._rules: list[tuple[re.Pattern[str], QTextCharFormat, int]] = [
            (re.compile(rf"\b(?:{words})\b"), self.keyword_format, 0),
            (re.compile(rf"\b(?:{'|'.join(sorted(_BUILTINS))})\b(?=\()"), self.builtin_format, 0),
            (re.compile(r"^\s*@[\w.]+"), self.decorator_format, 0),
            (re.compile(r"\b(?:def|class)\s+(\w+)"), self.definition_format, 1),
            (re.compile(r"\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b"), self.number_format, 0),
        ]
        # Single-line strings (with an optional prefix) and comments, scanned left to right
        # so a '#' inside a string is not a comment and quotes inside a comment are not strings.
        self._strings_and_comments = re.compile(
            r"""(?P<string>(?:\b[rRbBuUfF]{1,2})?(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))"""
            r"""|(?P<comment>\#.*$)"""
        )

    def highlightBlock(self, text: str) -> None:
        for pattern, fmt, group in self._rules:
            for match in pattern.finditer(text):
                start, end = match.span(group)
                self.setFormat(start, end - start, fmt)
        triples = self._triple(text)
        for match in self._strings_and_comments.finditer(text):
            start, end = match.span()
            if any(start < t_end and t_start < end for t_start, t_end in triples):
                continue
            fmt = self.string_format if match.group("string") else self.comment_format
            self.setFormat(start, end - start, fmt)

    def _triple(self, text: str) -> list[tuple[int, int]]:
        """Colour triple-quoted strings across blocks; return the spans they cover here."""
        self.setCurrentBlockState(0)
        spans: list[tuple[int, int]] = []
        position = 0
        state = self.previousBlockState()
        while True:
            if state in (self._IN_TRIPLE_DOUBLE, self._IN_TRIPLE_SINGLE):
                quote = '"""' if state == self._IN_TRIPLE_DOUBLE else "'''"
                end = text.find(quote, position)
                if end < 0:
                    spans.append((position, len(text)))
                    self.setCurrentBlockState(state)
                    break
                spans.append((position, end + 3))
                position = end + 3
                state = 0
                continue
            match = _TRIPLE_QUOTE.search(text, position)
            if match is None or "#" in text[position : match.start()]:
                break
            state = self._IN_TRIPLE_DOUBLE if match.group() == '"""' else self._IN_TRIPLE_SINGLE
            spans.append((match.start(), match.end()))
            position = match.end()
        for start, end in spans:
            self.setFormat(start, end - start, self.string_format)
        return spans


class DiffHighlighter(ThemedHighlighter):
    """Added lines green, removed lines red, hunk headers blue, file headers bold."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self.added_format = self.themed_format("#05603a", background="#e7f8ee")
        self.removed_format = self.themed_format("#b42318", background="#fdecea")
        self.hunk_format = self.themed_format("#1d5bd8", background="#eef4ff")
        self.header_format = self.themed_format("#3e4c59", bold=True)

    def highlightBlock(self, text: str) -> None:
        if text.startswith(("+++", "---")):
            fmt = self.header_format
        elif text.startswith("@@"):
            fmt = self.hunk_format
        elif text.startswith("+"):
            fmt = self.added_format
        elif text.startswith("-"):
            fmt = self.removed_format
        else:
            return
        self.setFormat(0, len(text), fmt)


class CodeView(QPlainTextEdit):
    """A read-only, monospace, non-wrapping text view."""

    _theme: str | None = None  # the theme the colours were made for (set once built)

    def __init__(self, object_name: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(monospace_font())
        self.setTabStopDistance(4 * self.fontMetrics().horizontalAdvance(" "))
        self.setPlaceholderText(placeholder)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self._theme = current_theme()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._theme not in (None, current_theme()):
            self._theme = current_theme()
            self.theme_changed()

    def theme_changed(self) -> None:
        """Recolour the highlighting after a switch between the light and dark theme."""
        for highlighter in self.document().findChildren(ThemedHighlighter):
            highlighter.recolour()
        self.viewport().update()

    def show_text(self, text: str) -> None:
        """Replace the text and scroll back to the top."""
        self.setPlainText(text)
        self.verticalScrollBar().setValue(0)
        self.horizontalScrollBar().setValue(0)


def formats_at(highlighter: QSyntaxHighlighter, line: int) -> list[QTextCharFormat]:
    """Copies of the formats the highlighter applied to ``line`` (for tests and debugging)."""
    block = highlighter.document().findBlockByNumber(line)
    layout = block.layout()
    if layout is None:
        return []
    return [QTextCharFormat(r.format) for r in layout.formats()]
