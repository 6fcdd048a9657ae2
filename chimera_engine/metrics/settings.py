"""Per-metric operator settings: which detector drives the alerts, how sensitive it is,
and the thresholds its forecasts watch. Plain data (no numpy): the hub keeps them
from start-up, before the detectors are imported.

Detector choices: ``ensemble`` (every member, the default) or one member alone
(``zscore``, ``ewma``, ``trend``, ``context``, ``seasonal``). Every member keeps
learning whatever the choice, so switching takes effect on the next sample with
no re-learning. Sensitivity is in [0, 1] (default 0.5); it sets the score from
which an anomaly is raised (:func:`alert_threshold`).

>>> alert_threshold(0.5), alert_threshold(1.0), alert_threshold(0.0)
(0.58, 0.23, 0.93)
>>> MetricSettings().validated().detector
'ensemble'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from chimera_engine.errors import ValidationError

DETECTOR_CHOICES = ("ensemble", "zscore", "ewma", "trend", "context", "seasonal")
DEFAULT_SENSITIVITY = 0.5
MAX_THRESHOLDS = 4


def alert_threshold(sensitivity: float) -> float:
    """The score (in [0, 1]) from which an anomaly is raised at ``sensitivity``.

    0.5 gives the shared default (0.58, chosen leave-one-family-out on NAB: see
    benchmarks/nab/lofo.py); 1 the most alerts (0.23), 0 the fewest (0.93).
    """
    s = min(1.0, max(0.0, sensitivity))
    return round(0.93 - 0.7 * s, 6)


@dataclass(frozen=True, kw_only=True)
class MetricSettings:
    """Operator settings of one metric; ``thresholds`` None = the collector's defaults."""

    detector: str = "ensemble"
    sensitivity: float = DEFAULT_SENSITIVITY
    thresholds: tuple[float, ...] | None = None
    updated_by: str = ""
    updated_at: float | None = None

    @property
    def is_default(self) -> bool:
        return (
            self.detector == "ensemble"
            and self.sensitivity == DEFAULT_SENSITIVITY
            and self.thresholds is None
        )

    def validated(self) -> MetricSettings:
        """Self, or :class:`ValidationError` naming what is wrong."""
        if self.detector not in DETECTOR_CHOICES:
            raise ValidationError(
                f"unknown detector {self.detector!r}; expected one of {', '.join(DETECTOR_CHOICES)}"
            )
        if not (math.isfinite(self.sensitivity) and 0.0 <= self.sensitivity <= 1.0):
            raise ValidationError(f"sensitivity must be in [0, 1], got {self.sensitivity!r}")
        if self.thresholds is not None:
            if len(self.thresholds) > MAX_THRESHOLDS:
                raise ValidationError(f"at most {MAX_THRESHOLDS} thresholds per metric")
            if not all(math.isfinite(t) for t in self.thresholds):
                raise ValidationError("thresholds must be finite numbers")
        return self
