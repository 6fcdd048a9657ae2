"""Aligning two versions of a file line by line, for a side-by-side diff.

:func:`align` pairs the old and the new lines: unchanged lines face each other,
changed lines face their replacement, and a line that exists on one side only
faces a blank filler line on the other, so both columns stay in step.
:func:`side_by_side` turns the rows of one or more files into the two texts,
line labels and line kinds a two-column view shows.

Pure Python, no Qt; CPU-bound for big files: call it from an executor.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

#: Kinds of rows: both sides equal, changed, only on the old side, only on the new
#: side, and a file header (when a patch touches more than one file).
EQUAL, CHANGED, REMOVED, ADDED, FILE = "equal", "changed", "removed", "added", "file"


@dataclass(frozen=True)
class Row:
    """One line of the side-by-side view; ``None`` text is a filler line."""

    kind: str
    old_no: int | None = None
    old: str | None = None
    new_no: int | None = None
    new: str | None = None


def align(old: str, new: str) -> list[Row]:
    """Rows pairing the lines of ``old`` and ``new`` (numbers start at 1).

    >>> [(r.kind, r.old, r.new) for r in align("a\\nb\\nc\\n", "a\\nB\\nc\\nd\\n")]
    [('equal', 'a', 'a'), ('changed', 'b', 'B'), ('equal', 'c', 'c'), ('added', None, 'd')]
    >>> [(r.kind, r.old_no, r.new_no) for r in align("x\\ny\\n", "y\\n")]
    [('removed', 1, None), ('equal', 2, 1)]
    """
    a, b = old.splitlines(), new.splitlines()
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                Row(EQUAL, i + 1, a[i], j + 1, b[j])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        rows += [Row(CHANGED, i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k]) for k in range(paired)]
        rows += [Row(REMOVED, old_no=i + 1, old=a[i]) for i in range(i1 + paired, i2)]
        rows += [Row(ADDED, new_no=j + 1, new=b[j]) for j in range(j1 + paired, j2)]
    return rows


Span = tuple[int, int]


def changed_spans(old: str, new: str) -> tuple[list[Span], list[Span]]:
    """The character ranges that differ between two versions of a line.

    >>> changed_spans("return a / b", "return a // b")
    ([], [(10, 11)])
    >>> changed_spans("x = 1", "y = 2")
    ([(0, 1), (4, 5)], [(0, 1), (4, 5)])
    """
    old_spans: list[Span] = []
    new_spans: list[Span] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            old_spans.append((i1, i2))
        if j2 > j1:
            new_spans.append((j1, j2))
    return old_spans, new_spans


@dataclass
class SideBySide:
    """The two columns: texts (one line per row), gutter labels and row kinds."""

    old_text: str = ""
    new_text: str = ""
    old_labels: list[str] = field(default_factory=list)
    new_labels: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    #: Character ranges that changed within changed lines, per line of the view.
    old_spans: dict[int, list[Span]] = field(default_factory=dict)
    new_spans: dict[int, list[Span]] = field(default_factory=dict)

    @property
    def added(self) -> int:
        return sum(k in (ADDED, CHANGED) for k in self.kinds)

    @property
    def removed(self) -> int:
        return sum(k in (REMOVED, CHANGED) for k in self.kinds)


def side_by_side(originals: Mapping[str, str], files: Mapping[str, str]) -> SideBySide:
    """Both columns for every file in ``files`` (new contents) against ``originals``.

    A header row names each file when there is more than one; a file missing from
    ``originals`` is shown as new.

    >>> view = side_by_side({"m.py": "a\\nb\\n"}, {"m.py": "a\\nc\\n"})
    >>> view.old_text.splitlines(), view.new_text.splitlines(), view.kinds
    (['a', 'b'], ['a', 'c'], ['equal', 'changed'])
    >>> view.old_labels, view.added, view.removed
    (['1', '2'], 1, 1)
    """
    view = SideBySide()
    old_lines: list[str] = []
    new_lines: list[str] = []
    for path in sorted(files):
        if len(files) > 1:
            old_lines.append(path)
            new_lines.append(path)
            view.old_labels.append("")
            view.new_labels.append("")
            view.kinds.append(FILE)
        for row in align(originals.get(path, ""), files[path]):
            if row.kind == CHANGED:
                spans = changed_spans(row.old or "", row.new or "")
                view.old_spans[len(view.kinds)], view.new_spans[len(view.kinds)] = spans
            old_lines.append(row.old or "")
            new_lines.append(row.new or "")
            view.old_labels.append("" if row.old_no is None else str(row.old_no))
            view.new_labels.append("" if row.new_no is None else str(row.new_no))
            view.kinds.append(row.kind)
    view.old_text = "\n".join(old_lines)
    view.new_text = "\n".join(new_lines)
    return view
