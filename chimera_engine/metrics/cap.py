"""SeriesCap: how many series clients may create by pushing (and scrapes by scraping).

Each series created from outside belongs to an *owner* (the pushing principal's
actor, or ``scrape:<target>``). A new series is admitted while its owner holds
fewer than ``per_owner`` series and all owners together fewer than ``total``;
a sample for a series already held is always admitted. Refusals are counted by
origin and reason so the exposition can show them. A series frees its place
when it is released (it went stale, see
:meth:`~chimera_engine.metrics.hub.MetricsHub.expire_stale`).

Memory is bounded by the caps: one dict entry per admitted series, one counter
per (origin, reason) pair. Not thread-safe; use on the loop.

>>> cap = SeriesCap(per_owner=2, total=3)
>>> [cap.admit(k, "alice", "push") for k in ("a", "b", "c", "a")]
[True, True, False, True]
>>> cap.admit("d", "bob", "push"), cap.admit("e", "bob", "push")
(True, False)
>>> dict(cap.refused)
{('push', 'owner_limit'): 1, ('push', 'total_limit'): 1}
>>> cap.release("a"); cap.admit("e", "bob", "push")
True
"""

from __future__ import annotations

from collections import Counter


class SeriesCap:
    def __init__(self, *, per_owner: int, total: int) -> None:
        if per_owner < 0 or total < 0:
            raise ValueError("series caps must not be negative")
        self.per_owner = per_owner
        self.total = total
        self._owner_of: dict[str, str] = {}
        self._held: Counter[str] = Counter()
        self.refused: Counter[tuple[str, str]] = Counter()

    def __len__(self) -> int:
        return len(self._owner_of)

    def __contains__(self, key: object) -> bool:
        return key in self._owner_of

    def held_by(self, owner: str) -> int:
        return self._held[owner]

    def admit(self, key: str, owner: str, origin: str) -> bool:
        """True when ``key`` may be recorded (it is then held by ``owner``)."""
        if key in self._owner_of:
            return True
        if self._held[owner] >= self.per_owner:
            self.refused[origin, "owner_limit"] += 1
            return False
        if len(self._owner_of) >= self.total:
            self.refused[origin, "total_limit"] += 1
            return False
        self._owner_of[key] = owner
        self._held[owner] += 1
        return True

    def release(self, key: str) -> None:
        owner = self._owner_of.pop(key, None)
        if owner is not None:
            self._held[owner] -= 1
            if self._held[owner] <= 0:
                del self._held[owner]
