"""The running health model of one tool version, and the evidence behind it.

Pure bookkeeping (no asyncio, no I/O): the engine feeds it calls, failures,
anomalies and forecasts as they arrive and reads a confidence in [0, 1].

>>> h = VersionHealth(tool="clean_csv", module="csv_cleaner", version=2, since=0.0)
>>> for ok in (True, True, False, False, False):
...     h.observe_call(ok=ok, duration_s=0.001, alpha=0.5)
>>> round(h.success, 3), h.calls, h.errors
(0.125, 5, 3)
>>> h.state(0.0, threshold=0.6, anomaly_weight=0.5, memory_s=300.0)
'failing'
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>\S+)')

#: Metrics whose rise is bad; for ``tool.confidence`` a fall is bad. ``agent.rss_mb`` is
#: about an agent process: it is laid at the door of the tool that agent ran most lately.
RISING_IS_BAD = ("tool.error_rate", "tool.latency_ms", "agent.rss_mb")
AGENT_METRICS = ("agent.rss_mb",)
FALLING_IS_BAD = ("tool.confidence",)


def failure_location(traceback: str, module: str) -> str:
    """``file:line in function`` of the deepest frame in ``module``'s file (else the
    deepest frame at all; "" without a traceback).

    >>> tb = 'Traceback:\\n  File "/ws/tools/csv_cleaner.py", line 19, in clean_csv\\n    x\\n'
    >>> failure_location(tb, "csv_cleaner")
    'csv_cleaner.py:19 in clean_csv'
    """
    frames = list(_FRAME.finditer(traceback))
    if not frames:
        return ""
    own = [m for m in frames if m["file"].endswith(f"/{module}.py")]
    m = (own or frames)[-1]
    return f"{m['file'].rsplit('/', 1)[-1]}:{m['line']} in {m['fn']}"


def split_metric(key: str) -> tuple[str, dict[str, str]]:
    """``tool.latency_ms{tool=x}`` -> (``tool.latency_ms``, {"tool": "x"}).

    >>> split_metric("tool.confidence{tool=clean_csv}")
    ('tool.confidence', {'tool': 'clean_csv'})
    """
    name, _, rest = key.partition("{")
    labels = dict(part.split("=", 1) for part in rest.rstrip("}").split(",") if "=" in part)
    return name, labels


def is_bad_direction(metric: str, rising: bool) -> bool | None:
    """Whether a move of ``metric`` (up when ``rising``) is bad; None: not a health metric."""
    if metric in RISING_IS_BAD:
        return rising
    if metric in FALLING_IS_BAD:
        return not rising
    return None


@dataclass(frozen=True, kw_only=True)
class FailureEvidence:
    """One failed call: inputs, error, where it was raised, the traceback."""

    at: float
    tool: str
    exception_type: str
    message: str
    location: str
    args: dict[str, Any]
    traceback: str

    @property
    def signature(self) -> str:
        """What makes two failures "the same": the exception type and where it was raised."""
        return f"{self.exception_type} at {self.location or '?'}"


@dataclass(frozen=True, kw_only=True)
class SignalEvidence:
    """An anomaly or a forecast on one of the tool's metrics."""

    at: float
    kind: str  # "anomaly" or "forecast"
    metric: str
    summary: str
    score: float
    bad: bool


@dataclass(kw_only=True)
class VersionHealth:
    """What is known about one tool version (one health model per tool and version)."""

    tool: str
    module: str
    version: int
    since: float
    calls: int = 0
    errors: int = 0
    success: float = 1.0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=200))
    early: list[float] = field(default_factory=list)
    failures: deque[FailureEvidence] = field(default_factory=lambda: deque(maxlen=5))
    signals: deque[SignalEvidence] = field(default_factory=lambda: deque(maxlen=5))
    signatures: Counter[str] = field(default_factory=Counter)
    last_failure_at: float = 0.0

    def observe_call(self, *, ok: bool, duration_s: float, alpha: float) -> None:
        """One finished call; ``alpha`` is the weight of this call in the running rate."""
        self.calls += 1
        self.errors += not ok
        self.success = (1.0 - alpha) * self.success + alpha * (1.0 if ok else 0.0)
        self.latencies.append(duration_s)
        if len(self.early) < 50:
            self.early.append(duration_s)

    def add_failure(self, failure: FailureEvidence) -> int:
        """Keep ``failure`` as evidence; returns how often its signature was seen."""
        self.failures.appendleft(failure)
        self.last_failure_at = max(self.last_failure_at, failure.at)
        self.signatures[failure.signature] += 1
        return self.signatures[failure.signature]

    def add_signal(self, signal: SignalEvidence) -> None:
        self.signals.appendleft(signal)

    @property
    def latency_ms_p50(self) -> float:
        return statistics.median(self.latencies) * 1e3 if self.latencies else 0.0

    def latency_shift(self, window: int) -> tuple[float, float] | None:
        """(median of the first ``window`` calls, median of the last ``window``) in ms,
        once there are ``2 * window`` calls (None before)."""
        if self.calls < 2 * window or len(self.early) < window:
            return None
        recent = list(self.latencies)[-window:]
        return statistics.median(self.early[:window]) * 1e3, statistics.median(recent) * 1e3

    @property
    def success_rate(self) -> float:
        """Successful calls over all calls of this version (1.0 before the first call)."""
        return 1.0 - self.errors / self.calls if self.calls else 1.0

    def anomaly_level(self, now: float, memory_s: float) -> float:
        """The strongest bad anomaly or forecast still remembered, fading linearly."""
        level = 0.0
        for s in self.signals:
            age = now - s.at
            if s.bad and 0.0 <= age < memory_s:
                level = max(level, s.score * (1.0 - age / memory_s))
        return level

    def confidence(self, now: float, *, anomaly_weight: float, memory_s: float) -> float:
        """The running success rate, lowered by recent bad anomalies; in [0, 1]."""
        value = self.success * (1.0 - anomaly_weight * self.anomaly_level(now, memory_s))
        return min(1.0, max(0.0, value))

    def state(self, now: float, *, threshold: float, anomaly_weight: float, memory_s: float) -> str:
        """``unknown`` (no calls yet), ``healthy``, ``degraded`` or ``failing``."""
        conf = self.confidence(now, anomaly_weight=anomaly_weight, memory_s=memory_s)
        if conf < threshold:
            return "failing"
        if conf < (1.0 + threshold) / 2 or self.anomaly_level(now, memory_s) > 0.0:
            return "degraded"
        return "healthy" if self.calls else "unknown"

    def top_signature(self) -> tuple[str, int] | None:
        common = self.signatures.most_common(1)
        return common[0] if common else None
