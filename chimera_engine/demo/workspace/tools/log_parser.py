"""Summarise application logs: counts per level, the most frequent errors, time span,
and the error messages never seen before in any call."""

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
# Every distinct error message seen so far, oldest first (compared without regard
# to case); carried over when this module is reloaded.
KNOWN_ERRORS: list[str] = []


def __chimera_state__() -> dict[str, Any]:
    return {"levels_seen": dict(LEVELS_SEEN), "known_errors": list(KNOWN_ERRORS)}


def __chimera_restore__(state: dict[str, Any]) -> None:
    LEVELS_SEEN.update(state.get("levels_seen", {}))
    KNOWN_ERRORS.extend(state.get("known_errors", []))


def _is_known(message: str) -> bool:
    wanted = message.casefold()
    return any(known.casefold() == wanted for known in KNOWN_ERRORS)


@tool(name="parse_log", description="Count log lines per level and list the top error messages")
def parse_log(text: str, top: int = 3) -> dict[str, Any]:
    levels: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    new_errors: list[str] = []
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
            message = match["msg"].strip()
            errors[message] += 1
            if not _is_known(message):
                KNOWN_ERRORS.append(message)
                new_errors.append(message)
        first = first or match["ts"]
        last = match["ts"]
    LEVELS_SEEN.update(levels)
    return {
        "levels": dict(levels),
        "top_errors": [msg for msg, _ in errors.most_common(top)],
        "new_errors": new_errors,
        "first": first,
        "last": last,
        "unparsed": unparsed,
    }
