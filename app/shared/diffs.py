"""Counting what a unified diff changes, for the panels that show diffs."""

from __future__ import annotations


def diff_stats(diff: str) -> tuple[int, int]:
    """Lines added and removed by a unified diff (file headers excluded).

    >>> diff_stats("--- a\\n+++ b\\n@@ -1 +1,2 @@\\n-x\\n+y\\n+z\\n")
    (2, 1)
    """
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            continue
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed
