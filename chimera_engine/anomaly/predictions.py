"""Predictive alerts: a forecast crossing with a fixed time, and its withdrawal.

A :class:`PredictiveAlert` is made once, at ``t``, and names the time the
crossing is expected (:attr:`PredictiveAlert.at`). Readers count down to that
time instead of repeating the lead that was true when it was made. A
:class:`Withdrawal` says a prediction no longer holds: later data no longer
forecast the crossing (the tool recovered, the slope faded), or its time passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo


@dataclass(frozen=True)
class PredictiveAlert:
    """At ``t`` (epoch s), ``metric`` was forecast to cross ``threshold`` ``minutes`` later.

    The crossing time :attr:`at` is fixed when the prediction is made; a reader
    counts down to it (:meth:`message` with ``now``) rather than repeating the
    lead that was true when it was made.
    """

    metric: str
    t: float
    threshold: float
    direction: str
    minutes: float
    earliest_minutes: float
    latest_minutes: float | None

    @property
    def at(self) -> float:
        """When the crossing is expected (epoch seconds)."""
        return self.t + 60.0 * self.minutes

    @property
    def key(self) -> tuple[str, float, str]:
        """What a later prediction of the same crossing replaces (metric, threshold, direction)."""
        return (self.metric, self.threshold, self.direction)

    def message(self, now: float | None = None, tz: tzinfo | None = None) -> str:
        """Operator sentence as of ``now`` (default: when made); clock times in ``tz``
        (default: local). A range that rounds to one minute is not printed.

        >>> from datetime import UTC
        >>> a = PredictiveAlert("disk", 0.0, 90.0, "up", 34.0, 21.0, 58.0)
        >>> a.message(tz=UTC)
        'disk is forecast to cross 90 at 00:34, in 34 min (between 00:21 and 00:58)'
        >>> a.message(now=30 * 60.0, tz=UTC)
        'disk is forecast to cross 90 at 00:34, in 4 min (between 00:21 and 00:58)'
        >>> PredictiveAlert("q", 0.0, 5.0, "down", 3.8, 3.8, 3.8).message(tz=UTC)
        'q is forecast to cross 5 at 00:03, in 4 min'
        >>> PredictiveAlert("q", 0.0, 5.0, "down", 1.0, 1.0, None).message(tz=UTC)
        'q is forecast to cross 5 at 00:01, in 1 min (not before 00:01)'
        >>> PredictiveAlert("q", 0.0, 5.0, "down", 1.0, 0.5, None).message(now=90.0, tz=UTC)
        'q was forecast to cross 5 at 00:01 (1 min ago)'
        """
        now = self.t if now is None else now
        at = _clock(self.at, tz)
        left = (self.at - now) / 60.0
        if left < 0.0:
            return f"{self.metric} was forecast to cross {self.threshold:g} at {at} ({_ago(-left)})"
        lead = "in under a minute" if left < 0.5 else f"in {max(1, round(left))} min"
        low = _clock(self.t + 60.0 * self.earliest_minutes, tz)
        if self.latest_minutes is None:
            span = f" (not before {low})"
        else:
            high = _clock(self.t + 60.0 * self.latest_minutes, tz)
            span = "" if low == high else f" (between {low} and {high})"
        return f"{self.metric} is forecast to cross {self.threshold:g} at {at}, {lead}{span}"


@dataclass(frozen=True)
class Withdrawal:
    """``alert`` no longer holds as of ``t``: ``reason`` says why, in a few words."""

    alert: PredictiveAlert
    t: float
    reason: str


def _clock(t: float, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(t, tz).strftime("%H:%M")


def _ago(minutes: float) -> str:
    return "under a minute ago" if minutes < 0.5 else f"{max(1, round(minutes))} min ago"
