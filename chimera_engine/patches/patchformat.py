"""Parsing and applying patches from an LLM's answer, strictly.

An answer carries the change to one module either as a unified diff or as
SEARCH/REPLACE blocks, plus one or more new pytest files, each in a fenced
block whose first line names the file::

    ```diff
    --- a/tools/csv_cleaner.py
    +++ b/tools/csv_cleaner.py
    @@ -10,3 +10,4 @@
    ...
    ```

    ```python
    # file: tests/test_fix_csv_cleaner.py
    def test_...(): ...
    ```

Everything is checked before anything is used: hunks must apply exactly (no
fuzz), each SEARCH must match exactly once, only the allowed files may change,
existing tests may not be edited, and every resulting Python file must parse.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from chimera_engine.errors import ValidationError


class PatchFormatError(ValidationError):
    """The answer is not an acceptable patch; the message says why."""

    code = "bad_patch"


@dataclass(frozen=True, kw_only=True)
class ParsedAnswer:
    """What an answer proposes, before it is checked against the workspace."""

    kind: str  # "unified" or "search_replace"
    edits: dict[str, str]  # path -> unified diff text or search/replace blocks text
    tests: dict[str, str]  # new test file path -> content
    rationale: str = ""


@dataclass(frozen=True, kw_only=True)
class PatchContent:
    """The fully applied change: new contents of every touched file."""

    files: dict[str, str]  # path -> new content (module files)
    tests: dict[str, str]  # new test files
    diff: str  # canonical unified diff of the module files and the new tests
    kind: str
    rationale: str = ""
    originals: dict[str, str] = field(default_factory=dict)

    @property
    def diff_hash(self) -> str:
        return hashlib.sha256(self.diff.encode()).hexdigest()

    @property
    def changed_lines(self) -> int:
        return sum(
            1
            for line in self.diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        )


_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_FILE_LINE = re.compile(r"^#\s*file:\s*(\S+)\s*$")
_SR_BLOCK = re.compile(
    r"^(?P<path>[^\n]*\.py)[ \t]*\n<{7} SEARCH\n(?P<search>.*?)^={7}\n"
    r"(?P<replace>.*?)^>{7} REPLACE",
    re.M | re.S,
)


def _clean_path(path: str) -> str:
    path = path.strip()
    if path.startswith(("a/", "b/")):
        path = path[2:]
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not path or "\\" in path:
        raise PatchFormatError(f"path {path!r} is outside the workspace")
    return str(pure)


def parse_answer(text: str) -> ParsedAnswer:
    """Split an answer into edits and new tests; refuse chatty or malformed answers."""
    if not isinstance(text, str) or not text.strip():
        raise PatchFormatError("the answer is empty")
    fences = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    if text.count("```") % 2:
        raise PatchFormatError("the answer is truncated: a code block is not closed")
    edits: dict[str, str] = {}
    tests: dict[str, str] = {}
    kind = ""
    for lang, body in fences:
        first = body.split("\n", 1)[0]
        file_match = _FILE_LINE.match(first)
        if lang in ("diff", "patch") or body.lstrip().startswith("--- "):
            for path, chunk in _split_diff(body):
                edits[path] = edits.get(path, "") + chunk
            kind = kind or "unified"
        elif _SR_BLOCK.search(body):
            for m in _SR_BLOCK.finditer(body):
                path = _clean_path(m["path"])
                edits[path] = edits.get(path, "") + m.group(0) + "\n"
            kind = kind or "search_replace"
        elif file_match:
            path = _clean_path(file_match.group(1))
            tests[path] = body.split("\n", 1)[1] if "\n" in body else ""
    if not edits and _SR_BLOCK.search(text):
        for m in _SR_BLOCK.finditer(text):
            path = _clean_path(m["path"])
            edits[path] = edits.get(path, "") + m.group(0) + "\n"
        kind = "search_replace"
    if not edits:
        raise PatchFormatError(
            "the answer contains no patch (expected a ```diff block or SEARCH/REPLACE blocks)"
        )
    if not tests:
        raise PatchFormatError(
            "the answer contains no tests (expected a ```python block starting '# file: tests/...')"
        )
    outside = [m.start() for m in _FENCE.finditer(text)]
    rationale = text[: outside[0]].strip() if outside else ""
    return ParsedAnswer(kind=kind, edits=edits, tests=tests, rationale=rationale[:2000])


def _split_diff(body: str) -> list[tuple[str, str]]:
    parts: list[tuple[str, str]] = []
    current: list[str] = []
    path = ""
    lines = body.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            if path:
                parts.append((path, "".join(current)))
            target = lines[i + 1][4:].split("\t")[0].strip()
            path = _clean_path(target)
            current = []
            i += 2
            continue
        if path:
            current.append(line)
        i += 1
    if path:
        parts.append((path, "".join(current)))
    if not parts:
        raise PatchFormatError("the diff has no '--- a/file' / '+++ b/file' header")
    return parts


_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def apply_unified(original: str, diff: str, path: str) -> str:
    """Apply hunks exactly (context must match; no fuzz). Hunk line numbers may be off;
    the context is searched near them and must be found exactly once."""
    src = original.splitlines(keepends=True)
    if src and not src[-1].endswith("\n"):
        src[-1] += "\n"
    hunks: list[tuple[int, list[str], list[str]]] = []
    old: list[str] = []
    new: list[str] = []
    start = -1
    for line in diff.splitlines(keepends=True):
        header = _HUNK.match(line)
        if header:
            if start >= 0:
                hunks.append((start, old, new))
            start, old, new = int(header.group(1)), [], []
            continue
        if start < 0:
            if line.strip():
                raise PatchFormatError(f"{path}: text before the first hunk: {line.strip()[:60]!r}")
            continue
        if line.startswith("\\"):
            continue
        body = line[1:] if line[:1] in " +-" else line
        if not body.endswith("\n"):
            body += "\n"
        if line.startswith("+"):
            new.append(body)
        elif line.startswith("-"):
            old.append(body)
        else:
            old.append(body)
            new.append(body)
    if start >= 0:
        hunks.append((start, old, new))
    if not hunks:
        raise PatchFormatError(f"{path}: the diff has no hunks")
    out: list[str] = []
    cursor = 0
    for number, (line_no, old_lines, new_lines) in enumerate(hunks, 1):
        at = _locate(src, old_lines, max(0, line_no - 1), cursor)
        if at is None:
            raise PatchFormatError(
                f"{path}: hunk {number} does not apply (its context is not in the file "
                f"near line {line_no})"
            )
        out.extend(src[cursor:at])
        out.extend(new_lines)
        cursor = at + len(old_lines)
    out.extend(src[cursor:])
    return "".join(out)


def _locate(src: list[str], old: list[str], hint: int, floor: int) -> int | None:
    if not old:
        return max(hint, floor) if hint <= len(src) else None
    n = len(old)
    matches = [i for i in range(floor, len(src) - n + 1) if src[i : i + n] == old]
    if not matches:
        stripped = [o.rstrip() for o in old]
        matches = [
            i
            for i in range(floor, len(src) - n + 1)
            if [s.rstrip() for s in src[i : i + n]] == stripped
        ]
    if not matches:
        return None
    return min(matches, key=lambda i: abs(i - hint))


def apply_search_replace(original: str, blocks: str, path: str) -> str:
    text = original
    found = list(_SR_BLOCK.finditer(blocks))
    if not found:
        raise PatchFormatError(f"{path}: no SEARCH/REPLACE block")
    for number, m in enumerate(found, 1):
        search, replace = m["search"], m["replace"]
        count = text.count(search) if search else 0
        if count != 1:
            where = "is not in the file" if count == 0 else f"occurs {count} times"
            raise PatchFormatError(f"{path}: SEARCH block {number} {where}")
        text = text.replace(search, replace, 1)
    return text


def materialise(
    answer: ParsedAnswer,
    originals: dict[str, str],
    *,
    allowed: set[str],
    existing_tests: set[str],
) -> PatchContent:
    """Apply the answer to ``originals`` and check every rule; returns the new contents."""
    files: dict[str, str] = {}
    for path, edit in answer.edits.items():
        if path not in allowed:
            raise PatchFormatError(
                f"the patch edits {path}, but only {', '.join(sorted(allowed))} may change"
            )
        if path not in originals:
            raise PatchFormatError(f"{path} does not exist in the workspace")
        if answer.kind == "unified":
            files[path] = apply_unified(originals[path], edit, path)
        else:
            files[path] = apply_search_replace(originals[path], edit, path)
        if files[path] == originals[path]:
            raise PatchFormatError(f"the patch does not change {path}")
    for path in answer.tests:
        if path in existing_tests or path in originals:
            raise PatchFormatError(f"{path} already exists: patches may not edit existing tests")
        if not (path.startswith("tests/") and PurePosixPath(path).name.startswith("test_")):
            raise PatchFormatError(f"new tests must be tests/test_*.py files, not {path}")
    for path, content in (*files.items(), *answer.tests.items()):
        try:
            ast.parse(content, filename=path)
        except SyntaxError as exc:
            raise PatchFormatError(f"{path}: SyntaxError: {exc.msg} (line {exc.lineno})") from None
    diff = "".join(
        "".join(
            difflib.unified_diff(
                originals[p].splitlines(keepends=True),
                files[p].splitlines(keepends=True),
                fromfile=f"a/{p}",
                tofile=f"b/{p}",
            )
        )
        for p in sorted(files)
    ) + "".join(
        "".join(
            difflib.unified_diff(
                [],
                content.splitlines(keepends=True),
                fromfile="/dev/null",
                tofile=f"b/{p}",
            )
        )
        for p, content in sorted(answer.tests.items())
    )
    return PatchContent(
        files=files,
        tests=dict(answer.tests),
        diff=diff,
        kind=answer.kind,
        rationale=answer.rationale,
        originals={p: originals[p] for p in files},
    )
