"""The swarm's counters as the console shows them (:class:`SwarmStats`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class SwarmStats:
    """Counters for the console. ``round_trip_*`` is dispatch to reply, over the last
    10,000 attempts (milliseconds); ``late_replies`` were ignored because their task was
    already decided; ``duplicates_suppressed`` results found their key already recorded."""

    backend: str
    agents: int
    agents_ready: int
    queued: int
    unfinished: int
    completed: int
    late_replies: int
    duplicates_suppressed: int
    respawns: int
    round_trip_p50_ms: float
    round_trip_p99_ms: float
    scheduler: str = ""
    scheduler_unreachable_since: float | None = None
    scheduler_error: str = ""

    def scheduler_note(self) -> str:
        """ "" while the backend is connected, else since when the scheduler is unreachable."""
        if self.scheduler_unreachable_since is None:
            return ""
        since = datetime.fromtimestamp(self.scheduler_unreachable_since).strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        why = f" ({self.scheduler_error})" if self.scheduler_error else ""
        return (
            f"scheduler {self.scheduler} unreachable since {since}{why}; "
            "queued work waits, reconnecting"
        )


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0
