"""Token-bucket rate limiting, per client and per route class.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second;
each request takes one. :class:`ClientRateLimiter` keeps one bucket per
(client, route class), evicting the least recently used beyond ``max_buckets``
so a flood of distinct clients cannot grow memory without bound.

>>> clock = [0.0]
>>> bucket = RateLimiter(rate=1.0, burst=2, clock=lambda: clock[0])
>>> [bucket.try_acquire()[0] for _ in range(3)]
[True, True, False]
>>> clock[0] = 1.0
>>> bucket.try_acquire()[0]
True
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """``rate`` requests per second sustained, ``burst`` at once."""

    rate: float
    burst: int

    @classmethod
    def per_minute(cls, requests: int, burst: int | None = None) -> RateLimit:
        return cls(
            rate=requests / 60.0, burst=burst if burst is not None else max(1, requests // 6)
        )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float
    remaining: int
    limit: RateLimit


class RateLimiter:
    """One token bucket. Not thread-safe: use it from the event loop."""

    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "denied", "rate")

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self.denied = 0

    def try_acquire(self, cost: float = 1.0) -> tuple[bool, float]:
        """Take ``cost`` tokens if there are enough; else say how long to wait."""
        now = self._clock()
        tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if tokens >= cost:
            self._tokens = tokens - cost
            return True, 0.0
        self._tokens = tokens
        self.denied += 1
        wait = (cost - tokens) / self.rate if self.rate > 0 else float("inf")
        return False, wait

    @property
    def tokens(self) -> float:
        return min(self.burst, self._tokens + (self._clock() - self._stamp) * self.rate)


@dataclass(frozen=True, kw_only=True)
class BucketStatus:
    client: str
    route_class: str
    tokens: float
    burst: int
    rate_per_minute: float
    denied: int


class ClientRateLimiter:
    """Buckets per (client, route class); limits per route class, overridable per client."""

    def __init__(
        self,
        limits: dict[str, RateLimit],
        *,
        default: RateLimit,
        max_buckets: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(limits)
        self.default = default
        self.max_buckets = max_buckets
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, str], RateLimiter] = OrderedDict()

    def check(self, client: str, route_class: str, override: RateLimit | None = None) -> Decision:
        """Count one request of ``client`` against ``route_class``."""
        key = (client, route_class)
        bucket = self._buckets.get(key)
        limit = override or self.limits.get(route_class, self.default)
        if bucket is None or bucket.rate != limit.rate or bucket.burst != limit.burst:
            bucket = RateLimiter(limit.rate, limit.burst, self._clock)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        allowed, retry = bucket.try_acquire()
        return Decision(allowed, retry, int(bucket._tokens), limit)

    def wait_for(self, client: str, route_class: str) -> float:
        """Seconds until ``client`` may make one ``route_class`` request (0 now), without
        counting one."""
        bucket = self._buckets.get((client, route_class))
        if bucket is None:
            return 0.0
        tokens = bucket.tokens
        if tokens >= 1.0:
            return 0.0
        return (1.0 - tokens) / bucket.rate if bucket.rate > 0 else float("inf")

    def status(self, limit: int = 200) -> list[BucketStatus]:
        """The most recently used buckets, newest first (for the admin panel)."""
        rows: list[BucketStatus] = []
        for (client, route_class), bucket in reversed(self._buckets.items()):
            rows.append(
                BucketStatus(
                    client=client,
                    route_class=route_class,
                    tokens=round(bucket.tokens, 2),
                    burst=bucket.burst,
                    rate_per_minute=round(bucket.rate * 60, 2),
                    denied=bucket.denied,
                )
            )
            if len(rows) >= limit:
                break
        return rows

    def __len__(self) -> int:
        return len(self._buckets)
