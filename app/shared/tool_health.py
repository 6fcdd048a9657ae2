"""A tool's health over the last minutes, from the metrics the engine records per tool
(calls per second, error rate and median latency each interval).

A version's lifetime success ratio says little about now: a tool that failed for
an hour and recovered ten minutes ago still shows "61 % ok", and one that just
became slow shows "100 % ok". The Overview judges each tool over
:data:`HEALTH_WINDOW_S` instead, and counts latency: the median latency of the
window against the tool's alert threshold, or against its own longer-run median
(more than :data:`SLOW_FACTOR` times slower is slow).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where the series are read, not at start-up
    import numpy as np
    import numpy.typing as npt

HEALTH_WINDOW_S = 120.0
BASELINE_S = 1800.0
SLOW_FACTOR = 3.0
#: Below this, latencies are too small to call a change slow (timer noise).
MIN_SLOW_MS = 50.0

Series = Callable[[str, float], "tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]"]


@dataclass(frozen=True)
class RecentHealth:
    calls: int
    error_rate: float  # 0..1 over the window's calls
    latency_ms: float  # median over the window's intervals with calls (nan: none)
    baseline_ms: float  # median over the longer run (nan: none)
    threshold_ms: float | None
    window_s: float

    @property
    def slow(self) -> bool:
        """The window's median latency is above the threshold, or far above the norm."""
        if not math.isfinite(self.latency_ms):
            return False
        if self.threshold_ms is not None and self.latency_ms > self.threshold_ms:
            return True
        return (
            math.isfinite(self.baseline_ms)
            and self.latency_ms >= MIN_SLOW_MS
            and self.latency_ms > SLOW_FACTOR * self.baseline_ms
        )

    def text(self) -> str:
        """E.g. ``98.0% ok of 48 calls in 2 min · p50 93 ms``.

        >>> RecentHealth(48, 0.02, 93.4, 20.0, None, 120.0).text()
        '98.0% ok of 48 calls in 2 min · p50 93 ms (usually 20 ms)'
        >>> RecentHealth(0, 0.0, math.nan, math.nan, None, 120.0).text()
        'no calls in 2 min'
        """
        span = f"{self.window_s / 60:.0f} min"
        if not self.calls:
            return f"no calls in {span}"
        text = f"{100 * (1 - self.error_rate):.1f}% ok of {self.calls} calls in {span}"
        if math.isfinite(self.latency_ms):
            text += f" · p50 {self.latency_ms:.0f} ms"
            if self.slow and math.isfinite(self.baseline_ms):
                text += f" (usually {self.baseline_ms:.0f} ms)"
        return text


def recent_health(
    series: Series,
    thresholds: Callable[[str], list[float]],
    tools: Iterable[str],
    now: float,
    window_s: float = HEALTH_WINDOW_S,
) -> dict[str, RecentHealth]:
    """Each tool's :class:`RecentHealth` (tools with no samples at all are left out).

    ``series(key, since)`` returns the samples of ``key`` from ``since`` (epoch
    seconds, values, oldest first); ``thresholds(key)`` its alert thresholds.
    """
    import numpy as np

    found: dict[str, RecentHealth] = {}
    for tool in tools:
        labels = f"{{tool={tool}}}"
        t_calls, calls_per_s = series(f"tool.calls{labels}", now - BASELINE_S)
        if not len(t_calls):
            continue
        _, rates = series(f"tool.error_rate{labels}", now - BASELINE_S)
        _, lat = series(f"tool.latency_ms{labels}", now - BASELINE_S)
        # The three are recorded together each interval: align them on the newest samples.
        n = min(len(t_calls), len(rates), len(lat))
        t, per_s, rates, lat = t_calls[-n:], calls_per_s[-n:], rates[-n:], lat[-n:]
        step = float(np.median(np.diff(t))) if n > 1 else 1.0
        counts = np.rint(per_s * step)
        recent = t >= now - window_s
        calls = int(counts[recent].sum())
        errors = float((rates[recent] * counts[recent]).sum())
        busy = counts > 0
        window_lat = lat[busy & recent]
        busy_lat = lat[busy]
        key = f"tool.latency_ms{labels}"
        limits = thresholds(key)
        found[tool] = RecentHealth(
            calls=calls,
            error_rate=errors / calls if calls else 0.0,
            latency_ms=float(np.median(window_lat)) if len(window_lat) else math.nan,
            baseline_ms=float(np.median(busy_lat)) if len(busy_lat) else math.nan,
            threshold_ms=min(limits) if limits else None,
            window_s=window_s,
        )
    return found
