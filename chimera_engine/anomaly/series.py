"""The state the engine keeps for one metric: its input status, ring buffer, detector
(its own ensemble or a bank row), effect-size floor and episode bands; and the
event an anomaly raises."""

from __future__ import annotations

import math
from dataclasses import dataclass

from chimera_engine.anomaly.bank import DetectorBank
from chimera_engine.anomaly.ensemble import AnomalyKind, Ensemble, EnsembleConfig
from chimera_engine.anomaly.floors import EffectFloor
from chimera_engine.anomaly.predictions import PredictiveAlert
from chimera_engine.metrics.buffer import VALUE_LIMIT, TimeSeriesBuffer

#: Sample times beyond +-TIME_LIMIT epoch seconds (the year 5138) are refused like
#: non-finite ones: no clock gives them, and their hour of day is not a number.
TIME_LIMIT = 1.0e11


@dataclass(frozen=True)
class AnomalyEvent:
    """An anomaly on one metric at time ``t`` (epoch seconds); score in [0, 1]."""

    metric: str
    t: float
    value: float
    expected: float
    score: float
    kind: AnomalyKind
    #: ``(level, half_width)`` of the metric's normal when the anomaly was raised.
    band: tuple[float, float] | None = None


@dataclass(slots=True)
class MetricStatus:
    """Health of one metric's input: what was accepted and what was rejected, and why."""

    samples: int = 0
    nonfinite: int = 0
    out_of_order: int = 0
    gaps: int = 0
    last_t: float = -math.inf
    step: float = 0.0  # the latest spacing of two samples (s)
    constant: bool = True
    first_value: float = math.nan

    @property
    def state(self) -> str:
        """``warming_up``, ``constant`` or ``ok``."""
        if self.samples < 30:
            return "warming_up"
        return "constant" if self.constant else "ok"


class MetricState:
    __slots__ = (
        "bank",
        "batched",
        "buffer",
        "checked_n",
        "config",
        "ensemble",
        "episode_band",
        "floor",
        "last_predictive_t",
        "misses",
        "predicted_from",
        "prediction",
        "recover_band",
        "recover_until",
        "row",
        "score",
        "status",
        "thresholds",
        "withdraw_n",
    )

    def __init__(
        self,
        config: EnsembleConfig,
        capacity: int,
        floor: EffectFloor,
        bank: DetectorBank | None = None,
        row: int = -1,
    ) -> None:
        # scored by its own ensemble, or by row ``row`` of ``bank``
        self.ensemble = Ensemble(config) if bank is None else None
        self.bank, self.row = bank, row
        self.batched = 0  # large batches in a row that brought a sample (own ensemble only)
        self.config = config
        self.floor = floor
        self.buffer = TimeSeriesBuffer(capacity)
        self.status = MetricStatus()
        self.thresholds: list[float] = []
        self.last_predictive_t = -math.inf
        self.checked_n = -1  # samples seen at the last forecast check
        self.score = 0.0
        self.prediction: PredictiveAlert | None = None  # the standing one
        self.misses = 0  # fits in a row since then that no longer cross
        self.predicted_from = math.nan  # the fitted level when it was made
        self.withdraw_n = -1  # samples seen at the last withdrawal check
        self.episode_band: tuple[float, float] | None = None  # normal before this episode
        self.recover_band: tuple[float, float] | None = None  # ... of the one just over
        self.recover_until = 0  # samples: till then a return into recover_band is no news
        if self.ensemble is not None:
            self.ensemble.news = self.is_news
        else:
            assert bank is not None
            bank.configure(row, config)

    def configure(self, config: EnsembleConfig) -> None:
        self.config = config
        if self.ensemble is not None:
            self.ensemble.config = config
        elif self.bank is not None:
            self.bank.configure(self.row, config)

    def band(self) -> tuple[float, float]:
        """``(level, half_width)``: the learned level, +- its floor or 3 standard deviations."""
        if self.ensemble is not None:
            z = self.ensemble.zscore
            mean, var = z.mean, z.var
        else:
            assert self.bank is not None
            mean = float(self.bank.zscore.mean[self.row])
            var = float(self.bank.zscore.var[self.row])
        return mean, max(self.floor.floor(mean), 3.0 * math.sqrt(var))

    def rearm(self) -> bool:
        if self.ensemble is not None:
            return self.ensemble.rearm()
        assert self.bank is not None
        return self.bank.rearm(self.row)

    def accept(self, t: float, value: float, gap_factor: float) -> bool:
        """Check one sample and count it in :attr:`status`; store it in the buffer.
        False (counted) for a non-finite value or time (or one past :data:`VALUE_LIMIT`
        or :data:`TIME_LIMIT`) and for an out-of-order time."""
        st = self.status
        if not (-VALUE_LIMIT <= value <= VALUE_LIMIT and -TIME_LIMIT <= t <= TIME_LIMIT):
            st.nonfinite += 1  # not learned: a huge value would swamp every detector
            return False
        last_t = st.last_t
        if t < last_t:
            st.out_of_order += 1
            return False
        samples = st.samples
        if samples >= 1:
            gap = t - last_t
            step = st.step
            if step > 0 and gap > gap_factor * step:
                st.gaps += 1
            if gap > 0:
                st.step = gap
            if st.constant and value != st.first_value:
                st.constant = False
        else:
            st.first_value = value
        st.samples = samples + 1
        st.last_t = t
        self.buffer.append(t, value)
        return True

    def is_news(self, value: float, expected: float) -> bool:
        """A move worth an alert: past the effect-size floor, and not a return into the
        normal of an episode that just ended (its fault's after-effects)."""
        if not self.floor.reached(value, expected):
            return False
        if self.recover_band is not None and self.status.samples < self.recover_until:
            level, half = self.recover_band
            if abs(value - level) <= half:
                return False
        return True
