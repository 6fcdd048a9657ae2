"""Hunk-level accept: keep some hunks of a patch and drop the others.

A patch's module change is cut into the hunks of its canonical unified diff
(``difflib``, three lines of context, files in path order), numbered from 0.
Keeping a subset rebuilds a unified diff of only those hunks and runs it
through the same strict path as a model's answer (:func:`materialise`): the
hunks must apply exactly to the source the patch was made from, the result must
parse, and it must change something. The patch's new test files always go
with it: they are what proves the narrower change still fixes the failure.
The kept hunks are applied to the module as it is now, which may be a newer
version than the patch was made for; if their context is gone, they do not
apply and the subset is refused.

>>> old = "a = 1\\n" + "pass\\n" * 8 + "b = 2\\n"
>>> new = old.replace("a = 1", "a = 10").replace("b = 2", "b = 20")
>>> [(h.index, h.header) for h in module_hunks({"m.py": old}, {"m.py": new})]
[(0, '@@ -1,4 +1,4 @@'), (1, '@@ -7,4 +7,4 @@')]
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from chimera_engine.patches.patchformat import (
    ParsedAnswer,
    PatchContent,
    PatchFormatError,
    materialise,
)


@dataclass(frozen=True, kw_only=True)
class Hunk:
    """One hunk of a module file's diff. ``text`` holds its ``@@`` header and lines."""

    index: int
    path: str
    header: str
    text: str
    added: int
    removed: int


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def module_hunks(originals: Mapping[str, str], files: Mapping[str, str]) -> list[Hunk]:
    """The hunks that turn ``originals`` into ``files`` (module files only), in order.

    ``index`` counts from 0 (messages for people count from 1)."""
    hunks: list[Hunk] = []
    for path in sorted(files):
        diff = list(
            difflib.unified_diff(_lines(originals.get(path, "")), _lines(files[path]), n=3)
        )[2:]  # drop the ---/+++ header
        current: list[str] = []
        for line in [*diff, "@@"]:
            if line.startswith("@@") and current:
                body = current[1:]
                hunks.append(
                    Hunk(
                        index=len(hunks),
                        path=path,
                        header=current[0].strip(),
                        text="".join(current),
                        added=sum(ln.startswith("+") for ln in body),
                        removed=sum(ln.startswith("-") for ln in body),
                    )
                )
                current = []
            current.append(line)
    return hunks


def keep_hunks(
    originals: Mapping[str, str],
    files: Mapping[str, str],
    tests: Mapping[str, str],
    keep: Collection[int],
    *,
    existing_tests: set[str],
    onto: Mapping[str, str] | None = None,
) -> tuple[PatchContent, list[Hunk]]:
    """The change made of the hunks numbered ``keep`` only, checked like any patch.

    The hunks are cut from ``originals`` -> ``files`` and applied to ``onto`` (the
    module as it is now; default ``originals``), exactly, context and all.

    Raises :class:`PatchFormatError` when the subset leaves nothing, keeps every hunk
    (that is the patch itself), names a hunk that does not exist, does not apply, or
    does not parse. Returns the content and every hunk of the patch.
    """
    hunks = module_hunks(originals, files)
    wanted = sorted(set(keep))
    if not wanted:
        raise PatchFormatError("no hunk is ticked: keeping none of them leaves nothing to test")
    unknown = [i for i in wanted if not 0 <= i < len(hunks)]
    if unknown:
        raise PatchFormatError(
            f"the patch has {len(hunks)} hunks; there is no hunk "
            f"{', '.join(str(i + 1) for i in unknown)}"
        )
    if len(wanted) == len(hunks):
        raise PatchFormatError(
            "every hunk is ticked: that is the patch itself; approve or edit it instead"
        )
    edits: dict[str, str] = {}
    for index in wanted:
        hunk = hunks[index]
        edits[hunk.path] = edits.get(hunk.path, "") + hunk.text
    answer = ParsedAnswer(kind="unified", edits=edits, tests=dict(tests))
    try:
        content = materialise(
            answer,
            dict(originals if onto is None else onto),
            allowed=set(files),
            existing_tests=existing_tests,
        )
    except PatchFormatError as exc:
        kept = ", ".join(str(i + 1) for i in wanted)
        raise PatchFormatError(f"hunks {kept} of {len(hunks)} on their own: {exc}") from None
    return content, hunks
