"""The live ensemble: five cheap detectors, one calibrated score in [0, 1], typed alerts.

Per sample (``score_learn``, about 7 us in CPython):

1. Raw scores of the members: z-score (spikes/drops), EWMA chart (sustained
   shifts), trend (slope changes), and two of our own design: context novelty
   (pattern breaks) and the seasonal hour-of-day profile (unusual for this
   time of day; needs timestamps, else it stays silent).
2. Calibration. Each member's raw score is divided by that member's *recent
   record* (its decaying maximum: ``record_decay`` per sample, growing at most
   ``record_growth`` times per sample so one wild outlier does not blind it):
   ``u = raw / record``, so ``u >= 1`` means "as unusual as anything this metric
   did lately" whatever the metric's units or noise. With timestamps a record
   also remembers at least ``record_memory_s`` seconds (the slower of the two
   decays wins): a metric sampled every second does not forget its noise
   extremes within minutes. For samples further apart than ~16 s the per-sample
   decay is the slower one, so NAB's 5-minute series are unaffected. The weighted maximum ``r``
   (``weights``; members with weight 0 only inform the anomaly type) maps to
   ``r / (1 + r)`` in [0, 1) (0.5 = equal to the recent record). A value more
   than ``range_margin`` of the seen range outside it scores at least
   ``range_score`` (after ``range_warmup`` samples and, with timestamps,
   ``range_warmup_s`` seconds: a few minutes of a fast metric are no range).
3. Relative suppression: the score is reported only when it rises above the
   decaying peak of recent scores (``peak_decay``) and is at least
   ``min_score``; a plateau or a burst of noise therefore yields one high
   score, then zeros. After a score of at least ``rest_level`` the next
   ``rest_points`` samples score 0 unless they beat that score (a rest period).
4. Learning gate: a sample scoring at least ``learn_gate`` is *not* learned by
   the members (an anomaly must not teach them it is normal) - unless
   ``max_skip`` samples in a row were gated, then the new regime is accepted.
5. Alerts: a score of at least ``alert_threshold`` raises an :class:`Alert`
   typed spike / drop / trend change / pattern break, unless the previous alert
   is less than ``cooldown_s`` seconds old (``cooldown_points`` samples when no
   timestamps are given): one incident, one alert. On noise sampled once a
   second this is about 0.1-0.3 false alerts per metric-hour (Gaussian,
   Student-t, log-normal; benchmarks/bench_anomaly.py).

The defaults are the one parameter set used everywhere (live engine, bank,
``chimera detect`` and the NAB benchmark).
The first ``warmup`` samples score 0. NaN/inf samples score 0 and are not
learned. Not thread-safe: one ensemble per metric, used from one thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from chimera_engine.anomaly.base import Detector
from chimera_engine.anomaly.context import ContextDetector
from chimera_engine.anomaly.ewma import EWMADetector
from chimera_engine.anomaly.seasonal import SeasonalDetector
from chimera_engine.anomaly.trend import TrendDetector
from chimera_engine.anomaly.zscore import ZScoreDetector


class AnomalyKind(StrEnum):
    """What an anomaly looks like."""

    SPIKE = "spike"
    DROP = "drop"
    TREND_CHANGE = "trend_change"
    PATTERN_BREAK = "pattern_break"


MEMBERS = ("zscore", "ewma", "trend", "context", "seasonal")


@dataclass(frozen=True)
class EnsembleConfig:
    """One parameter set, shared by every metric (and by the NAB benchmark)."""

    weights: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 1.0, 1.0)
    record_decay: float = 0.9995
    peak_decay: float = 0.998
    record_memory_s: float = 6 * 3600.0
    learn_gate: float = 0.6
    max_skip: int = 30
    alert_threshold: float = 0.58
    cooldown_s: float = 120.0
    cooldown_points: int = 60
    rearm_points: int = 60
    warmup: int = 30
    min_score: float = 0.05
    range_margin: float = 0.02
    range_warmup: int = 300
    range_score: float = 0.8
    range_warmup_s: float = 6 * 3600.0
    gate_records: bool = False
    record_growth: float = 2.0
    rest_points: int = 200
    rest_level: float = 0.55
    context_levels: int = 6
    context_table_bits: int = 1 << 12

    @cached_property
    def active(self) -> tuple[tuple[int, float], ...]:
        """``(member index, weight)`` of the members that score (weight not 0)."""
        return tuple((i, w) for i, w in enumerate(self.weights) if w)


@dataclass(frozen=True)
class Alert:
    """An alert raised by the ensemble for one sample."""

    score: float
    kind: AnomalyKind
    value: float
    expected: float
    t: float | None
    member_scores: dict[str, float] = field(default_factory=dict)


def classify(units: list[float], x: float, expected: float, smoothed: float) -> AnomalyKind:
    """Type of an anomaly.

    ``units`` are the members' calibrated scores (MEMBERS order), ``expected`` the
    baseline mean and ``smoothed`` the fast EWMA level including ``x``. A spike
    moves the fast level by only a fraction of its own deviation; a trend has
    already dragged the level along (fraction >= 0.5) and shows a slope change.
    """
    top = max(units)
    dev = x - expected
    frac = (smoothed - expected) / dev if dev != 0.0 else 0.0
    if units[2] >= 0.5 * top and frac >= 0.5:
        return AnomalyKind.TREND_CHANGE
    if (units[3] >= top or units[4] >= top) and units[0] < 1.0:
        return AnomalyKind.PATTERN_BREAK
    return AnomalyKind.SPIKE if dev >= 0.0 else AnomalyKind.DROP


def _learn_linear(
    zscore: ZScoreDetector, ewma: EWMADetector, trend: TrendDetector, x: float
) -> None:
    """``learn_one(x)`` of the three moment-based members (finite ``x``), written out:
    the same arithmetic in the same order, without three calls on the hot path."""
    n = zscore.n = zscore.n + 1
    a = 1.0 / n
    if zscore.alpha > a:
        a = zscore.alpha
    d = x - zscore.mean
    zscore.mean += a * d
    zscore.var = (1.0 - a) * (zscore.var + a * d * d)
    n = ewma.n = ewma.n + 1
    if n == 1:
        ewma.level = ewma.mean = x
    else:
        ewma.level += ewma.fast * (x - ewma.level)
        a = 1.0 / n
        if ewma.slow > a:
            a = ewma.slow
        d = x - ewma.mean
        ewma.mean += a * d
        ewma.var = (1.0 - a) * (ewma.var + a * d * d)
    n = trend.n = trend.n + 1
    if n > 1:
        d = x - trend.prev
        trend.fast_slope += trend.fast * (d - trend.fast_slope)
        a = 1.0 / (n - 1)
        if trend.slow > a:
            a = trend.slow
        e = d - trend.slow_slope
        trend.slow_slope += a * e
        trend.var = (1.0 - a) * (trend.var + a * e * e)
    trend.prev = x


class Ensemble(Detector):
    """The live per-metric ensemble; ``score_learn`` is the hot path.

    After each ``score_learn`` call, :attr:`alert` holds the :class:`Alert` this
    sample raised, or None; :attr:`suppressed` counts alerts swallowed by cooldown.
    """

    name = "ensemble"
    __slots__ = (
        "alert",
        "below_floor",
        "calm",
        "config",
        "context",
        "ewma",
        "first_t",
        "last_alert_n",
        "last_alert_t",
        "last_dt",
        "last_memory",
        "last_t",
        "n",
        "news",
        "peak",
        "records",
        "rest_score",
        "rest_until",
        "seasonal",
        "skipped",
        "suppressed",
        "trend",
        "zscore",
    )

    def __init__(self, config: EnsembleConfig | None = None) -> None:
        self.config = config or EnsembleConfig()
        self.reset()

    def reset(self) -> None:
        c = self.config
        self.zscore = ZScoreDetector()
        self.ewma = EWMADetector()
        self.trend = TrendDetector()
        self.context = ContextDetector(
            levels=c.context_levels, table_bits=c.context_table_bits, warmup=0
        )
        self.seasonal = SeasonalDetector()
        self.records = [1e-12] * len(MEMBERS)
        self.peak = 0.0
        self.n = 0
        self.skipped = 0
        self.rest_until = 0
        self.rest_score = 0.0
        self.last_t = math.inf
        self.first_t = math.nan
        self.last_dt = math.nan  # the latest spacing / record_memory_s, and 0.5 ** it
        self.last_memory = 1.0
        self.last_alert_t: float | None = None
        self.last_alert_n = -(10**9)
        self.alert: Alert | None = None
        self.suppressed = 0
        self.calm: list[float] | None = None  # the records before this episode's first alert
        # ``news(value, expected)``: whether a move is worth an alert (effect-size floor);
        # a rare but small move is dropped before it starts the cooldown.
        self.news: Callable[[float, float], bool] | None = None
        self.below_floor = 0

    def _raw(self, x: float, t: float | None, keys: list[int] | None = None) -> list[float]:
        return [
            self.zscore.score_one(x),
            self.ewma.score_one(x),
            self.trend.score_one(x),
            self.context.raw_novelty(x, keys),
            self.seasonal.score_one(x, t),
        ]

    def _combine(self, raws: list[float]) -> tuple[float, list[float]]:
        units = [r / m for r, m in zip(raws, self.records, strict=True)]
        best = 0.0
        for u, w in zip(units, self.config.weights, strict=True):
            if u * w > best:
                best = u * w
        return best / (1.0 + best), units

    def score_one(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x) or self.n < self.config.warmup:
            return 0.0
        score, _ = self._combine(self._raw(x, t))
        return score if score > self.peak and score >= self.config.min_score else 0.0

    def learn_one(self, x: float, t: float | None = None) -> None:
        self.score_learn(x, t)

    def score_learn(self, x: float, t: float | None = None) -> float:
        self.alert = None
        if not math.isfinite(x):
            return 0.0
        c = self.config
        zscore, ewma, trend = self.zscore, self.ewma, self.trend
        keys, novelty = self.context.probe(x)
        # zscore / ewma / trend .score_one(x), written out (the hot path: no calls)
        if zscore.n < zscore.warmup:
            rz = 0.0
        else:
            mean = zscore.mean
            size = -mean if mean < 0.0 else mean
            floor = zscore.rel_floor * (1.0 if size < 1.0 else size)
            rz = abs(x - mean) / math.sqrt(zscore.var + floor * floor)
        if ewma.n < ewma.warmup:
            re = 0.0
        else:
            level = ewma.level + ewma.fast * (x - ewma.level)
            mean = ewma.mean
            size = -mean if mean < 0.0 else mean
            floor = ewma.rel_floor * (1.0 if size < 1.0 else size)
            re = abs(level - mean) / (math.sqrt(ewma.var + floor * floor) * ewma.k)
        if trend.n < trend.warmup:
            rt = 0.0
        else:
            prev = trend.prev
            fs = trend.fast_slope + trend.fast * ((x - prev) - trend.fast_slope)
            size = -prev if prev < 0.0 else prev
            floor = trend.rel_floor * (1.0 if size < 1.0 else size)
            rt = abs(fs - trend.slow_slope) / (math.sqrt(trend.var + floor * floor) * trend.k)
        raws = (rz, re, rt, novelty, self.seasonal.score_one(x, t))
        records = self.records
        best = 0.0  # the weighted maximum of the calibrated scores (see _combine)
        for i, w in c.active:
            u = raws[i] / records[i] * w
            if u > best:
                best = u
        combined = best / (1.0 + best)
        n = self.n
        warm = n >= c.warmup
        threshold = c.alert_threshold
        if (
            warm
            and n >= c.range_warmup
            and (t is None or t - self.first_t >= c.range_warmup_s)
            and self._outside_range(x)
            and combined < c.range_score
        ):
            combined = c.range_score
        small = (
            warm
            and combined >= threshold
            and self.news is not None
            and not self.news(x, zscore.mean)
        )
        if small:  # rare but too small a move to matter: normal, and it raises no bar
            self.below_floor += 1
            combined = 0.0
        gate = warm and combined >= c.learn_gate and self.skipped < c.max_skip
        record_decay = c.record_decay
        if t is not None:
            dt = t - self.last_t
            if dt > 0.0:  # records remember at least record_memory_s seconds
                e = dt / c.record_memory_s  # the same spacing: the same factor
                if e != self.last_dt:
                    self.last_dt = e
                    self.last_memory = 0.5**e
                memory = self.last_memory
                if memory > record_decay:
                    record_decay = memory
            self.last_t = t
            if self.first_t != self.first_t:  # NaN: the first timestamp
                self.first_t = t
        # the calibrated scores (the records before this sample): only an alert reads them
        units = (
            [r / m for r, m in zip(raws, records, strict=True)] if combined >= threshold else None
        )
        before = records[:] if units is not None and self.calm is None else None
        if not (small or (gate and c.gate_records)):
            growth = c.record_growth if warm else math.inf
            for i, r in enumerate(raws):
                m = records[i]
                d = m * record_decay
                if r > d:
                    cap = m * growth
                    d = r if r < cap else cap
                records[i] = d
        peak = self.peak
        score = combined if warm and combined > peak and combined >= c.min_score else 0.0
        peak *= c.peak_decay
        if warm and combined > peak:
            peak = combined
        self.peak = peak
        if n < self.rest_until and score <= self.rest_score:
            score = 0.0
        elif score >= c.rest_level:
            self.rest_until = n + 1 + c.rest_points
            self.rest_score = score
        if gate:
            self.skipped += 1
        else:
            self.skipped = 0
            _learn_linear(zscore, ewma, trend, x)
            self.seasonal.learn_one(x, t)
        self.context.advance(x, keys, novelty, not gate)
        if units is not None and score >= threshold:
            self._maybe_alert(score, units, x, t)
            if self.alert is not None and self.calm is None:
                self.calm = before
        self.n = n + 1
        return score

    def rearm(self) -> bool:
        """The episode is over (its metric is back to normal): forget the extremes it
        left in the records, so the same fault coming back alerts again. Records go back
        to at most what they were before the episode's first alert; the peak and the rest
        period end.
        Only once ``rearm_points`` samples passed since the last alert (a short blip on a
        slow metric keeps its records). False when nothing was restored."""
        if self.calm is None or self.n - self.last_alert_n < self.config.rearm_points:
            return False
        self.records = [min(r, c) for r, c in zip(self.records, self.calm, strict=True)]
        self.calm = None
        self.peak = 0.0
        self.rest_until = 0
        return True

    def _outside_range(self, x: float) -> bool:
        lo, hi = self.context.lo, self.context.hi
        margin = self.config.range_margin * (hi - lo)
        return hi > lo and (x > hi + margin or x < lo - margin)

    def _maybe_alert(self, score: float, units: list[float], x: float, t: float | None) -> None:
        c = self.config
        if t is not None and self.last_alert_t is not None:
            cooling = t - self.last_alert_t < c.cooldown_s
        else:
            cooling = self.n - self.last_alert_n < c.cooldown_points
        expected = self.zscore.mean
        if cooling:
            self.suppressed += 1
            return
        self.last_alert_t, self.last_alert_n = t, self.n
        self.alert = Alert(
            score=score,
            kind=classify(units, x, expected, self.ewma.smoothed(x)),
            value=x,
            expected=expected,
            t=t,
            member_scores=dict(zip(MEMBERS, units, strict=True)),
        )
