"""Summarise application logs: counts per level, the most frequent errors, time span."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from chimera_engine.tooling import tool

LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)\S*\s+(?P<level>[A-Z]+)\s+(?P<msg>.*)$"
)

# Levels seen across every call; carried over when this module is reloaded.
LEVELS_SEEN: Counter[str] = Counter()


def __chimera_state__() -> dict[str, Any]:
    return {"levels_seen": dict(LEVELS_SEEN)}


def __chimera_restore__(state: dict[str, Any]) -> None:
    LEVELS_SEEN.update(state.get("levels_seen", {}))


@tool(name="parse_log", description="Count log lines per level and list the top error messages")
def parse_log(text: str, top: int = 3) -> dict[str, Any]:
    levels: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    first = last = None
    unparsed = 0
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if not match:
            unparsed += bool(line.strip())
            continue
        level = match["level"]
        levels[level] += 1
        if level in ("ERROR", "CRITICAL"):
            errors[match["msg"].strip()] += 1
        first = first or match["ts"]
        last = match["ts"]
    LEVELS_SEEN.update(levels)
    return {
        "levels": dict(levels),
        "top_errors": [msg for msg, _ in errors.most_common(top)],
        "first": first,
        "last": last,
        "unparsed": unparsed,
    }
