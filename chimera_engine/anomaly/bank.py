"""DetectorBank: the live ensemble for thousands of metrics, one numpy pass per tick.

Each metric owns a row of numpy state arrays (the ``*Batch`` twins of the
ensemble's members). ``tick_array(t, xs)`` scores and learns every row at once
and gives exactly the scores :class:`~chimera_engine.anomaly.ensemble.Ensemble`
would give the same samples, metric by metric (tested). A NaN in ``xs`` means
"no sample for this metric this tick": its score is 0 and its state is left
alone, so metrics may report at different rates or go quiet.

Metrics are added and removed by name; removing frees the row for reuse (its
state is reset); capacity doubles when full. Cost: about 1 us per metric per
tick at 10,000 metrics (see benchmarks/bench_anomaly.py). Not thread-safe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.base import FloatArray
from chimera_engine.anomaly.context import ContextBatch
from chimera_engine.anomaly.ensemble import MEMBERS, Alert, EnsembleConfig, classify
from chimera_engine.anomaly.ewma import EWMABatch
from chimera_engine.anomaly.seasonal import SeasonalBatch
from chimera_engine.anomaly.trend import TrendBatch
from chimera_engine.anomaly.zscore import ZScoreBatch


@dataclass(frozen=True)
class BankTick:
    """Result of one tick: a score per row and the alerts raised, by metric name."""

    scores: FloatArray
    alerts: list[tuple[str, Alert]]


class DetectorBank:
    """Vectorised ensemble over many named metrics."""

    def __init__(self, capacity: int = 1024, config: EnsembleConfig | None = None) -> None:
        self.config = config or EnsembleConfig()
        self.capacity = 0
        self.rows: dict[str, int] = {}
        self.names: list[str | None] = []
        self._free: list[int] = []
        self._allocate(max(1, capacity))

    def _allocate(self, capacity: int) -> None:
        c = self.config
        old = self.__dict__.copy() if self.capacity else None
        n_old = self.capacity
        self.zscore = ZScoreBatch(capacity)
        self.ewma = EWMABatch(capacity)
        self.trend = TrendBatch(capacity)
        self.context = ContextBatch(
            capacity, levels=c.context_levels, table_bits=c.context_table_bits, warmup=0
        )
        self.seasonal = SeasonalBatch(capacity)
        self.last_t = np.full(capacity, np.inf)
        self.first_t = np.full(capacity, np.nan)
        self.records = np.full((len(MEMBERS), capacity), 1e-12)
        self.peak = np.zeros(capacity)
        self.n = np.zeros(capacity)
        self.skipped = np.zeros(capacity)
        self.rest_until = np.zeros(capacity)
        self.rest_score = np.zeros(capacity)
        self.last_alert_t = np.full(capacity, np.nan)
        self.last_alert_n = np.full(capacity, -1e9)
        if old is not None:
            _copy_rows(old, self.__dict__, n_old)
        self._free.extend(range(capacity - 1, n_old - 1, -1))
        self.names.extend([None] * (capacity - n_old))
        self.capacity = capacity

    def add(self, name: str) -> int:
        """Row of metric ``name``, created (fresh state) if new."""
        row = self.rows.get(name)
        if row is not None:
            return row
        if not self._free:
            self._allocate(self.capacity * 2)
        row = self._free.pop()
        self.rows[name] = row
        self.names[row] = name
        return row

    def remove(self, name: str) -> None:
        """Forget metric ``name``; its row is reset and reused later."""
        row = self.rows.pop(name, None)
        if row is None:
            return
        self.names[row] = None
        self._reset(np.array([row]))
        self._free.append(row)

    def _reset(self, rows: npt.NDArray[np.intp]) -> None:
        for member in (self.zscore, self.ewma, self.trend, self.context, self.seasonal):
            member.reset_rows(rows)
        self.records[:, rows] = 1e-12
        for arr, value in (
            (self.peak, 0.0),
            (self.n, 0.0),
            (self.skipped, 0.0),
            (self.rest_until, 0.0),
            (self.rest_score, 0.0),
            (self.last_alert_t, np.nan),
            (self.last_alert_n, -1e9),
            (self.last_t, np.inf),
            (self.first_t, np.nan),
        ):
            arr[rows] = value

    def tick(self, t: float, samples: Mapping[str, float]) -> BankTick:
        """Score one tick given ``{metric: value}``; unknown metrics are added."""
        for name in samples:
            if name not in self.rows:
                self.add(name)
        xs = np.full(self.capacity, np.nan)
        for name, value in samples.items():
            xs[self.rows[name]] = value
        return self.tick_array(t, xs)

    def tick_array(self, t: float, xs: FloatArray) -> BankTick:
        """Score and learn one sample per row (NaN = no sample); ``t`` in epoch seconds."""
        c = self.config
        ok = np.isfinite(xs)
        self.seasonal.t = t
        raws = np.stack(
            [
                self.zscore.score_many(xs),
                self.ewma.score_many(xs),
                self.trend.score_many(xs),
                self.context.raw_novelty(xs),
                self.seasonal.score_many(xs),
            ]
        )
        units = raws / self.records
        weights = np.asarray(c.weights)[:, None]
        best = np.maximum(np.max(units * weights, axis=0), 0.0)
        combined = best / (1.0 + best)
        warm = self.n >= c.warmup
        lo, hi = self.context.lo, self.context.hi
        margin = c.range_margin * (hi - lo)
        with np.errstate(invalid="ignore"):
            outside = (hi > lo) & ((xs > hi + margin) | (xs < lo - margin))
            settled = t - self.first_t >= c.range_warmup_s
        beyond = warm & (self.n >= c.range_warmup) & settled & outside
        combined = np.where(beyond, np.maximum(combined, c.range_score), combined)
        gate = ok & warm & (combined >= c.learn_gate) & (self.skipped < c.max_skip)
        dt = t - self.last_t
        decay = np.where(
            dt > 0.0,
            np.maximum(c.record_decay, 0.5 ** (np.maximum(dt, 0.0) / c.record_memory_s)),
            c.record_decay,
        )
        self.last_t = np.where(ok, t, self.last_t)
        self.first_t = np.where(ok & np.isnan(self.first_t), t, self.first_t)
        decayed = self.records * decay
        upd = ok & ~gate if c.gate_records else ok
        grown = np.where(
            raws > decayed,
            np.minimum(raws, self.records * np.where(warm, c.record_growth, np.inf)),
            decayed,
        )
        self.records = np.where(upd, grown, self.records)
        hot = ok & warm & (combined > self.peak) & (combined >= c.min_score)
        score = np.where(hot, combined, 0.0)
        self.peak = np.where(
            ok, np.maximum(self.peak * c.peak_decay, np.where(warm, combined, 0.0)), self.peak
        )
        score = np.where((self.n < self.rest_until) & (score <= self.rest_score), 0.0, score)
        start = ok & (score >= c.rest_level)
        self.rest_until = np.where(start, self.n + 1 + c.rest_points, self.rest_until)
        self.rest_score = np.where(start, score, self.rest_score)
        self.skipped = np.where(ok, np.where(gate, self.skipped + 1, 0.0), self.skipped)
        learn = ok & ~gate
        self.zscore.learn_many(xs, learn)
        self.ewma.learn_many(xs, learn)
        self.trend.learn_many(xs, learn)
        self.seasonal.learn_many(xs, learn)
        self.context.observe(xs, ~gate)
        alerts = self._alerts(t, xs, score, units)
        self.n += ok
        return BankTick(score, alerts)

    def _alerts(
        self, t: float, xs: FloatArray, score: FloatArray, units: FloatArray
    ) -> list[tuple[str, Alert]]:
        c = self.config
        hot = np.nonzero(score >= c.alert_threshold)[0]
        out: list[tuple[str, Alert]] = []
        for row in hot.tolist():
            last_t = float(self.last_alert_t[row])
            if not math.isnan(last_t):
                cooling = t - last_t < c.cooldown_s
            else:
                cooling = self.n[row] - self.last_alert_n[row] < c.cooldown_points
            name = self.names[row]
            if cooling or name is None:
                continue
            self.last_alert_t[row], self.last_alert_n[row] = t, self.n[row]
            u = [float(v) for v in units[:, row]]
            x, expected = float(xs[row]), float(self.zscore.mean[row])
            level = float(self.ewma.level[row])
            kind = classify(u, x, expected, level + self.ewma.fast * (x - level))
            member_scores = dict(zip(MEMBERS, u, strict=True))
            out.append((name, Alert(float(score[row]), kind, x, expected, t, member_scores)))
        return out

    def nbytes_per_metric(self) -> float:
        """State bytes per metric row (numpy arrays only)."""
        total = self.records.nbytes + self.peak.nbytes * 9
        for member in (self.zscore, self.ewma, self.trend, self.context, self.seasonal):
            total += sum(v.nbytes for v in vars(member).values() if isinstance(v, np.ndarray))
        return total / self.capacity


def _copy_rows(old: dict[str, object], new: dict[str, object], n_old: int) -> None:
    """Copy the first ``n_old`` rows of every state array from ``old`` into ``new``."""
    for key, value in old.items():
        target = new.get(key)
        if isinstance(value, np.ndarray) and isinstance(target, np.ndarray):
            if key == "records":
                target[:, :n_old] = value
            elif value.shape[:1] == (n_old,) and target.ndim == value.ndim:
                target[:n_old] = value
        elif hasattr(value, "__dict__") and hasattr(target, "__dict__") and key != "config":
            _copy_rows(vars(value), vars(target), n_old)
