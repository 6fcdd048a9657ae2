"""A quick risk rating of a diff, shown as a badge in the review queue."""

from __future__ import annotations

import re

_RISKY = re.compile(
    r"\b(os\.system|subprocess|socket|eval\(|exec\(|__import__|os\.environ|getenv|shutil\.rmtree"
    r"|open\([^)]*['\"][wa+]|pickle|ctypes|urllib|requests\.|httpx\.)"
)


def assess(diff: str) -> tuple[str, list[str]]:
    """``("low" | "medium" | "high", reasons)`` from the diff's size and the calls it adds.

    >>> assess("+    return 0\\n")[0]
    'low'
    >>> assess("+    import subprocess\\n")
    ('high', ['adds a risky call: subprocess'])
    """
    added = [
        line[1:]
        for line in diff.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    removed = [
        line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")
    ]
    reasons: list[str] = []
    for line in added:
        for match in _RISKY.finditer(line):
            reasons.append(f"adds a risky call: {match.group(0).rstrip('(')}")
    if reasons:
        return "high", sorted(set(reasons))
    size = len(added) + len(removed)
    if size > 60:
        return "medium", [f"large change ({size} lines)"]
    return "low", [] if size <= 20 else [f"{size} lines changed"]
