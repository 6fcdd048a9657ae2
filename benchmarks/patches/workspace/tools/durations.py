"""Durations as people write them: "1h30m", "2d", "45s"."""

from __future__ import annotations

import re

from chimera_engine.tooling import tool

UNITS = {"d": 86400, "h": 3600, "m": 60}
_PART = re.compile(r"(\d+)([dhm])")


@tool(name="parse_duration", description="Seconds in a duration such as '1h30m'")
def parse_duration(text: str) -> int:
    total = 0
    for amount, unit in _PART.findall(text.strip().lower()):
        total += int(amount) * UNITS[unit]
    return total


@tool(name="format_duration", description="Seconds written as a duration such as '1h30m'")
def format_duration(seconds: int) -> str:
    parts = []
    for unit, size in UNITS.items():
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)
