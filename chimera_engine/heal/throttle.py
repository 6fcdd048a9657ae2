"""The limits that keep preventive learning from flooding the model and the operator.

One open request per module, an exponential back-off after each failed attempt
(rejected, rolled back, or no patch at all), and a budget of requests per hour
across all tools. Pure bookkeeping with an explicit clock.

>>> t = Throttle(backoff_s=60.0, backoff_max_s=600.0, per_hour=2)
>>> t.refusal("csv_cleaner", 0.0) is None
True
>>> t.opened("csv_cleaner", 0.0)
>>> t.refusal("csv_cleaner", 1.0).cause
'open'
>>> t.closed("csv_cleaner", ok=False, now=10.0)
70.0
>>> t.refusal("csv_cleaner", 20.0).cause
'backoff'
>>> t.opened("log_parser", 30.0)
>>> t.closed("log_parser", ok=True, now=31.0) is None
True
>>> t.refusal("json_schema", 40.0).cause
'budget'
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why no request may be made now; ``until`` is when that may change (None: unknown)."""

    cause: str  # open, backoff, budget
    reason: str
    until: float | None = None


@dataclass(kw_only=True)
class ModuleLimits:
    """The throttle's state for one module."""

    open_since: float | None = None
    failures: int = 0
    backoff_until: float = 0.0
    foreign: set[int] = field(default_factory=set)


class Throttle:
    def __init__(self, *, backoff_s: float, backoff_max_s: float, per_hour: int) -> None:
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.per_hour = per_hour
        self._modules: dict[str, ModuleLimits] = {}
        self._requests: deque[float] = deque()

    def limits(self, module: str) -> ModuleLimits:
        return self._modules.setdefault(module, ModuleLimits())

    def used(self, now: float) -> int:
        """Requests made in the hour before ``now``."""
        while self._requests and self._requests[0] <= now - 3600.0:
            self._requests.popleft()
        return len(self._requests)

    def refusal(self, module: str, now: float) -> Refusal | None:
        """None when a request for ``module`` may be made at ``now``."""
        lim = self.limits(module)
        if lim.open_since is not None:
            return Refusal(cause="open", reason="a learning request for it is still open")
        if lim.foreign:
            ids = ", ".join(str(i) for i in sorted(lim.foreign))
            return Refusal(cause="open", reason=f"patch {ids} for it is still under way")
        if now < lim.backoff_until:
            return Refusal(
                cause="backoff",
                reason=(
                    f"backing off after {lim.failures} failed attempt"
                    f"{'s' if lim.failures != 1 else ''} ({lim.backoff_until - now:.0f} s left)"
                ),
                until=lim.backoff_until,
            )
        if self.used(now) >= self.per_hour:
            return Refusal(
                cause="budget",
                reason=f"the budget of {self.per_hour} requests per hour is spent",
                until=self._requests[0] + 3600.0 if self._requests else None,
            )
        return None

    def opened(self, module: str, now: float) -> None:
        """A request for ``module`` was made at ``now`` (counts against the budget)."""
        self.limits(module).open_since = now
        self._requests.append(now)

    def closed(self, module: str, *, ok: bool, now: float) -> float | None:
        """The request ended; after a failure, returns the end of the new back-off."""
        lim = self.limits(module)
        lim.open_since = None
        if ok:
            lim.failures = 0
            lim.backoff_until = 0.0
            return None
        lim.failures += 1
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (lim.failures - 1))
        lim.backoff_until = now + delay
        return lim.backoff_until

    def track_foreign(self, module: str, patch_id: int, *, open_: bool) -> None:
        """A patch not made for one of our requests (an operator's) is open or ended."""
        foreign = self.limits(module).foreign
        if open_:
            foreign.add(patch_id)
        else:
            foreign.discard(patch_id)
