"""How times, counts, rates and durations read in every table of the console."""

from __future__ import annotations

import time
from datetime import datetime


def format_time(ts: float) -> str:
    """Local time as ``yyyy-mm-dd hh:mm:ss``."""
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def format_clock(ts: float) -> str:
    """Local time of day as ``hh:mm:ss`` (for live logs)."""
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def format_count(n: int) -> str:
    """An integer with thousands separators.

    >>> format_count(1234567)
    '1,234,567'
    """
    return f"{n:,}"


def format_rate(errors: int, calls: int) -> str:
    """Error rate as a percentage; a dash when nothing was called.

    >>> format_rate(0, 0), format_rate(0, 12), format_rate(1, 3), format_rate(1, 1000)
    ('—', '0 %', '33.3 %', '0.1 %')
    """
    if calls == 0:
        return "—"
    if errors == 0:
        return "0 %"
    return f"{100.0 * errors / calls:.1f} %"


def format_ms(ms: float) -> str:
    """A duration in milliseconds with sensible precision.

    >>> format_ms(0.42), format_ms(12.345), format_ms(1532.0)
    ('0.42 ms', '12.3 ms', '1,532 ms')
    """
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms"


def format_relative(ts: float | None, now: float | None = None) -> str:
    """How long ago (or until) ``ts``, in the largest sensible unit.

    >>> format_relative(None), format_relative(100.0, 130.0), format_relative(4000.0, 400.0)
    ('never', '30 s ago', 'in 1 h')
    """
    if ts is None:
        return "never"
    delta = (time.time() if now is None else now) - ts
    future = delta < 0
    delta = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if delta >= size:
            amount = f"{delta // size:.0f} {unit}"
            break
    else:
        amount = f"{delta:.0f} s"
    return f"in {amount}" if future else f"{amount} ago"
