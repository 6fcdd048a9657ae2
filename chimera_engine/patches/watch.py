"""After a patch is applied: watch the tool and decide to keep it or roll it back."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass

from chimera_engine.events import EventBus, ToolCallCompleted


@dataclass(frozen=True, kw_only=True)
class WatchPolicy:
    """A patched tool is rolled back if, after ``min_calls`` calls within ``seconds``,
    its error rate exceeds the old one by ``error_margin`` (absolute), or its median
    latency is more than ``latency_factor`` times the old one and more than
    ``latency_floor_s`` above it (sub-millisecond tools jitter by multiples)."""

    seconds: float = 60.0
    min_calls: int = 10
    error_margin: float = 0.05
    latency_factor: float = 3.0
    latency_floor_s: float = 0.005


@dataclass(frozen=True, kw_only=True)
class Baseline:
    calls: int
    errors: int
    latency_s: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclass(frozen=True, kw_only=True)
class Verdict:
    keep: bool
    reason: str
    calls: int
    error_rate: float
    latency_s: float


async def watch(
    bus: EventBus, module: str, version: int, baseline: Baseline, policy: WatchPolicy
) -> Verdict:
    """Follow the calls of ``module`` ``version`` until the window ends or it is worse."""
    sub = bus.subscribe(ToolCallCompleted, maxsize=100_000)
    calls = errors = 0
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + policy.seconds

    def verdict(keep: bool, reason: str) -> Verdict:
        return Verdict(
            keep=keep,
            reason=reason,
            calls=calls,
            error_rate=errors / calls if calls else 0.0,
            latency_s=statistics.median(latencies) if latencies else 0.0,
        )

    try:
        while loop.time() < deadline:
            await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))
            while (event := sub.get_nowait()) is not None:
                if not isinstance(event, ToolCallCompleted):
                    continue
                record = event.record
                if record.module != module or record.version != version:
                    continue
                if record.outcome == "cancelled":  # the caller went away: no judgement
                    continue
                calls += 1
                errors += record.outcome != "ok"
                latencies.append(record.duration_s)
            if calls < policy.min_calls:
                continue
            rate = errors / calls
            if rate > baseline.error_rate + policy.error_margin:
                return verdict(
                    False,
                    f"error rate rose from {baseline.error_rate:.0%} to {rate:.0%} "
                    f"over {calls} calls",
                )
            median = statistics.median(latencies)
            limit = max(
                baseline.latency_s * policy.latency_factor,
                baseline.latency_s + policy.latency_floor_s,
            )
            if baseline.latency_s and median > limit:
                return verdict(
                    False,
                    f"median latency rose from {baseline.latency_s * 1e3:.1f} ms to "
                    f"{median * 1e3:.1f} ms",
                )
    finally:
        sub.close()
    if calls == 0:
        return verdict(True, f"no calls during the {policy.seconds:g} s watch; kept")
    return verdict(
        True,
        f"{calls} calls in the watch window, error rate {errors / calls:.0%} "
        f"(was {baseline.error_rate:.0%})",
    )
