"""Practical effect-size floors: how far from normal a metric must be to be news.

A detector says a sample is *unusual*; an operator needs it to *matter* too.
A 0.5% move of a process's memory, or a CPU that reads 97.5% where 99.7% was
expected, can be statistically rare on a quiet metric and still be no news.
The engine raises an alert only when ``|value - expected|`` reaches the floor
of the metric's kind as well as the detector's alert score.

The kind is read from the metric's name (the part before ``{labels}``), by its
last dotted part; the first rule that matches wins. A floor is the larger of an
absolute amount (in the metric's units) and a fraction of ``|expected|``:

>>> floor_for("agent.rss_mb{agent=a1}").reached(22.36, 22.24)
False
>>> floor_for("agent.rss_mb{agent=a1}").reached(30.0, 22.24)
True
>>> floor_for("host.cpu_percent").reached(97.5, 99.71)
False
>>> floor_for("tool.calls{tool=t}").reached(5.0, 1.5)
False
>>> floor_for("tool.error_rate{tool=t}").reached(0.4, 0.02)
True

Counts and rates (``calls``, ``*_count``, ``*_total``) use a Poisson-like
floor: ``poisson * sqrt(|expected|)``, at least ``absolute``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EffectFloor:
    """``|value - expected|`` must reach max(absolute, relative*|expected|,
    poisson*sqrt(|expected|))."""

    absolute: float = 0.0
    relative: float = 0.0
    poisson: float = 0.0

    def floor(self, expected: float) -> float:
        e = abs(expected)
        return max(self.absolute, self.relative * e, self.poisson * math.sqrt(e))

    def reached(self, value: float, expected: float) -> bool:
        """True when the move from ``expected`` to ``value`` is large enough to report."""
        return abs(value - expected) >= self.floor(expected)


#: (suffix of the metric name's last dotted part, floor); first match wins.
RULES: tuple[tuple[str, EffectFloor], ...] = (
    ("memory_percent", EffectFloor(absolute=5.0)),
    ("cpu_percent", EffectFloor(absolute=15.0)),
    ("_percent", EffectFloor(absolute=5.0)),
    ("_mb", EffectFloor(absolute=2.0, relative=0.05)),
    ("_bytes", EffectFloor(absolute=2.0 * 2**20, relative=0.05)),
    ("error_rate", EffectFloor(absolute=0.05)),
    ("confidence", EffectFloor(absolute=0.05)),
    ("latency_ms", EffectFloor(absolute=5.0, relative=0.25)),
    ("_ms", EffectFloor(absolute=5.0, relative=0.25)),
    ("_seconds", EffectFloor(absolute=0.005, relative=0.25)),
    ("calls", EffectFloor(absolute=3.0, poisson=4.5)),
    ("_count", EffectFloor(absolute=3.0, poisson=4.5)),
    ("_total", EffectFloor(absolute=3.0, poisson=4.5)),
)
#: Any other metric: 1% of the expected level (no absolute amount: units unknown).
DEFAULT = EffectFloor(relative=0.01)


def floor_for(metric: str) -> EffectFloor:
    """The effect-size floor of metric key ``name{labels}``."""
    leaf = metric.split("{", 1)[0].rsplit(".", 1)[-1]
    for suffix, rule in RULES:
        if leaf.endswith(suffix):
            return rule
    return DEFAULT
