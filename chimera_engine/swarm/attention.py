"""How long the host has been listening to its agents without a stall of its own.

An agent's heartbeat is read by the host's event loop. When that loop stalls
(a busy GUI building a window, a long synchronous call), heartbeats pile up
unread in the pipe and every agent looks silent: judging them by the wall clock
alone would declare healthy agents hung. The sweep ticks this clock; an agent is
judged only over the time since the host last resumed listening.
"""

from __future__ import annotations


class AttentionClock:
    """Tracks the start of the host's current uninterrupted listening stretch.

    >>> clock = AttentionClock(max_gap=1.0)
    >>> clock.tick(10.0), clock.tick(10.25), clock.tick(10.5)
    (10.0, 10.0, 10.0)
    >>> clock.tick(14.5)  # the host stalled for 4 s: it starts listening again now
    14.5
    >>> clock.silence(last_seen=9.0, now=15.0)  # only 0.5 s of listening without a word
    0.5
    """

    def __init__(self, max_gap: float = 1.0) -> None:
        if max_gap <= 0:
            raise ValueError("max_gap must be positive")
        self.max_gap = max_gap
        self._last: float | None = None
        self.since: float | None = None

    def tick(self, now: float) -> float:
        """Record a sweep at monotonic ``now``; return when the current stretch began."""
        if self._last is None or self.since is None or now - self._last > self.max_gap:
            self.since = now
        self._last = now
        return self.since

    def silence(self, last_seen: float, now: float) -> float:
        """Seconds the host listened at ``now`` without hearing from an agent last heard
        from at ``last_seen``."""
        start = last_seen if self.since is None else max(last_seen, self.since)
        return max(0.0, now - start)
