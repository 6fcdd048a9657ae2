"""DetectorBank: the live ensemble for thousands of metrics, one numpy pass per tick.

Each metric owns a row of numpy state arrays (the ``*Batch`` twins of the
ensemble's members). ``tick_array(t, xs)`` scores and learns every row at once
and gives exactly the scores :class:`~chimera_engine.anomaly.ensemble.Ensemble`
would give the same samples, metric by metric (tested). A NaN in ``xs`` means
"no sample for this metric this tick": its score is 0 and its state is left
alone, so metrics may report at different rates or go quiet.

Metrics are added and removed by name; removing frees the row for reuse (the
rows removed are reset together when a row is next needed, so forgetting
thousands of metrics is one numpy pass, not one each); capacity doubles when
full. Not thread-safe.

:meth:`DetectorBank.tick_rows` is what the live engine runs for a large batch of
samples (a scrape, a pushed batch): only the rows given are read and written,
each with its own sample time, its own weights and alert threshold
(:meth:`~DetectorBank.configure`) and the engine's effect-size test (``news``,
asked only of the rare rows whose score reaches their alert threshold). The
decisions are exactly those of the scalar ensemble, alert by alert (tested).
Cost: about 1 us per metric per tick at 10,000 metrics, plus a fixed ~0.4 ms
per call (see benchmarks/bench_anomaly.py).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chimera_engine.anomaly.base import FloatArray, power
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


#: ``news(row, value, expected)``: is this move worth an alert (the effect-size test)?
News = Callable[[int, float, float], bool]
#: State arrays whose first axis is the member, not the row.
_MEMBER_MAJOR = frozenset({"records", "weights", "calm"})
#: Per member: tables indexed through ``_rows`` instead of being copied for a subset
#: of rows (and the sample times, set per tick).
_WIDE = {
    "zscore": frozenset(),
    "ewma": frozenset(),
    "trend": frozenset(),
    "context": frozenset({"table", "_rows"}),
    "seasonal": frozenset({"mean", "dev", "visits", "_rows", "t"}),
}


class DetectorBank:
    """Vectorised ensemble over many named metrics."""

    def __init__(self, capacity: int = 1024, config: EnsembleConfig | None = None) -> None:
        self.config = config or EnsembleConfig()
        self.capacity = 0
        self.rows: dict[str, int] = {}
        self.names: list[str | None] = []
        self._free: list[int] = []
        self._removed: list[int] = []  # free once reset
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
        self.weights = np.repeat(np.asarray(c.weights, dtype=np.float64)[:, None], capacity, 1)
        self.threshold = np.full(capacity, c.alert_threshold)
        self.calm = np.full((len(MEMBERS), capacity), np.inf)
        self.has_calm = np.zeros(capacity, dtype=np.bool_)
        self.below_floor = np.zeros(capacity)
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
            if self._removed:
                self._reset(np.array(self._removed, dtype=np.intp))
                self._free, self._removed = self._removed[::-1], []
            else:
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
        self._removed.append(row)

    def _reset(self, rows: npt.NDArray[np.intp]) -> None:
        for member in (self.zscore, self.ewma, self.trend, self.context, self.seasonal):
            member.reset_rows(rows)
        self.records[:, rows] = 1e-12
        self.weights[:, rows] = np.asarray(self.config.weights)[:, None]
        self.calm[:, rows] = np.inf
        for arr, value in (
            (self.threshold, self.config.alert_threshold),
            (self.has_calm, False),
            (self.below_floor, 0.0),
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

    def configure(self, row: int, config: EnsembleConfig) -> None:
        """Row ``row`` scores with ``config``'s weights and alert threshold from now on
        (the other parameters are the bank's, shared by every row)."""
        self.weights[:, row] = config.weights
        self.threshold[row] = config.alert_threshold

    def rearm(self, row: int) -> bool:
        """:meth:`Ensemble.rearm <chimera_engine.anomaly.ensemble.Ensemble.rearm>` for
        ``row``: its records go back to what they were before the episode's first alert."""
        if (
            not self.has_calm[row]
            or self.n[row] - self.last_alert_n[row] < self.config.rearm_points
        ):
            return False
        self.records[:, row] = np.minimum(self.records[:, row], self.calm[:, row])
        self.calm[:, row] = np.inf
        self.has_calm[row] = False
        self.peak[row] = 0.0
        self.rest_until[row] = 0.0
        return True

    def tick(self, t: float, samples: Mapping[str, float]) -> BankTick:
        """Score one tick given ``{metric: value}``; unknown metrics are added."""
        for name in samples:
            if name not in self.rows:
                self.add(name)
        xs = np.full(self.capacity, np.nan)
        for name, value in samples.items():
            xs[self.rows[name]] = value
        return self.tick_array(t, xs)

    def tick_array(self, t: float | FloatArray, xs: FloatArray) -> BankTick:
        """Score and learn one sample per row (NaN = no sample); ``t`` in epoch seconds,
        one for all rows or one per row."""
        scores, alerts = self._tick(
            np.broadcast_to(np.asarray(t, dtype=np.float64), xs.shape), xs, None
        )
        return BankTick(scores, [(name, a) for row, a in alerts if (name := self.names[row])])

    def tick_rows(
        self, rows: npt.NDArray[np.intp], ts: FloatArray, xs: FloatArray, news: News | None = None
    ) -> tuple[FloatArray, list[tuple[int, Alert]]]:
        """Score and learn ``xs[i]`` at ``ts[i]`` on row ``rows[i]`` (distinct rows, finite
        samples); the other rows are not touched. Returns the scores (in the order of
        ``rows``) and the alerts raised, by row."""
        sub = self._take(rows)
        scores, alerts = sub._tick(ts, xs, news, rows)
        self._put(rows, sub)
        return scores, alerts

    def _take(self, rows: npt.NDArray[np.intp]) -> DetectorBank:
        """A bank of just ``rows``: their state copied, the wide tables shared."""
        sub = copy.copy(self)
        for attr, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(sub, attr, value[:, rows] if attr in _MEMBER_MAJOR else value[rows])
        for attr, wide in _WIDE.items():
            member = copy.copy(getattr(self, attr))
            for name, value in vars(member).items():
                if isinstance(value, np.ndarray) and name not in wide:
                    setattr(member, name, value[rows])
            if hasattr(member, "_rows"):
                member._rows = rows
            setattr(sub, attr, member)
        return sub

    def _put(self, rows: npt.NDArray[np.intp], sub: DetectorBank) -> None:
        """Write the state of ``sub`` (from :meth:`_take`) back into ``rows``."""
        for attr, value in vars(self).items():
            if isinstance(value, np.ndarray):
                if attr in _MEMBER_MAJOR:
                    value[:, rows] = getattr(sub, attr)
                else:
                    value[rows] = getattr(sub, attr)
        for attr, wide in _WIDE.items():
            mine, theirs = getattr(self, attr), getattr(sub, attr)
            for name, value in vars(mine).items():
                if isinstance(value, np.ndarray) and name not in wide:
                    value[rows] = getattr(theirs, name)

    def _tick(
        self,
        t: FloatArray,
        xs: FloatArray,
        news: News | None,
        rows: npt.NDArray[np.intp] | None = None,
    ) -> tuple[FloatArray, list[tuple[int, Alert]]]:
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
        best = np.max(np.where(self.weights != 0.0, units * self.weights, 0.0), axis=0)
        best = np.maximum(best, 0.0)
        combined = best / (1.0 + best)
        warm = self.n >= c.warmup
        lo, hi = self.context.lo, self.context.hi
        margin = c.range_margin * (hi - lo)
        with np.errstate(invalid="ignore"):
            outside = (hi > lo) & ((xs > hi + margin) | (xs < lo - margin))
            settled = t - self.first_t >= c.range_warmup_s
        beyond = warm & (self.n >= c.range_warmup) & settled & outside
        combined = np.where(beyond, np.maximum(combined, c.range_score), combined)
        threshold = self.threshold
        small = np.zeros(len(xs), dtype=np.bool_)
        if news is not None:  # rare but too small a move: normal, and it raises no bar
            for i in np.nonzero(ok & warm & (combined >= threshold))[0].tolist():
                row = i if rows is None else int(rows[i])
                if not news(row, float(xs[i]), float(self.zscore.mean[i])):
                    small[i] = True
            if small.any():
                self.below_floor += small
                combined = np.where(small, 0.0, combined)
        gate = ok & warm & (combined >= c.learn_gate) & (self.skipped < c.max_skip)
        dt = t - self.last_t
        with np.errstate(invalid="ignore"):
            later = dt > 0.0
        decay = np.where(
            later,
            np.maximum(c.record_decay, power(0.5, np.where(later, dt, 0.0) / c.record_memory_s)),
            c.record_decay,
        )
        self.last_t = np.where(ok, t, self.last_t)
        self.first_t = np.where(ok & np.isnan(self.first_t), t, self.first_t)
        before = self.records
        decayed = before * decay
        upd = ok & ~small & ~gate if c.gate_records else ok & ~small
        grown = np.where(
            raws > decayed,
            np.minimum(raws, before * np.where(warm, c.record_growth, np.inf)),
            decayed,
        )
        self.records = np.where(upd, grown, before)
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
        alerts = self._alerts(t, xs, score, units, before, rows)
        self.n += ok
        return score, alerts

    def _alerts(
        self,
        t: FloatArray,
        xs: FloatArray,
        score: FloatArray,
        units: FloatArray,
        before: FloatArray,
        rows: npt.NDArray[np.intp] | None,
    ) -> list[tuple[int, Alert]]:
        c = self.config
        hot = np.nonzero(score >= self.threshold)[0]
        out: list[tuple[int, Alert]] = []
        for i in hot.tolist():
            now = float(t[i])
            last_t = float(self.last_alert_t[i])
            if not math.isnan(last_t):
                cooling = now - last_t < c.cooldown_s
            else:
                cooling = self.n[i] - self.last_alert_n[i] < c.cooldown_points
            if cooling:
                continue
            self.last_alert_t[i], self.last_alert_n[i] = now, self.n[i]
            if not self.has_calm[i]:  # the records before this episode's first alert
                self.calm[:, i] = before[:, i]
                self.has_calm[i] = True
            u = [float(v) for v in units[:, i]]
            x, expected = float(xs[i]), float(self.zscore.mean[i])
            level = float(self.ewma.level[i])
            kind = classify(u, x, expected, level + self.ewma.fast * (x - level))
            member_scores = dict(zip(MEMBERS, u, strict=True))
            row = i if rows is None else int(rows[i])
            out.append((row, Alert(float(score[i]), kind, x, expected, now, member_scores)))
        return out

    def nbytes_per_metric(self) -> float:
        """State bytes per metric row (numpy arrays only)."""
        total = sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))
        for member in (self.zscore, self.ewma, self.trend, self.context, self.seasonal):
            total += sum(v.nbytes for v in vars(member).values() if isinstance(v, np.ndarray))
        return total / self.capacity


def _copy_rows(old: dict[str, object], new: dict[str, object], n_old: int) -> None:
    """Copy the first ``n_old`` rows of every state array from ``old`` into ``new``."""
    for key, value in old.items():
        target = new.get(key)
        if isinstance(value, np.ndarray) and isinstance(target, np.ndarray):
            if key in _MEMBER_MAJOR:
                target[:, :n_old] = value
            elif value.shape[:1] == (n_old,) and target.ndim == value.ndim:
                target[:n_old] = value
        elif hasattr(value, "__dict__") and hasattr(target, "__dict__") and key != "config":
            _copy_rows(vars(value), vars(target), n_old)
