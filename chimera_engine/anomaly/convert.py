"""Move a metric's learned state between its own ensemble and a bank row, losslessly.

The engine scores a metric in a :class:`~chimera_engine.anomaly.bank.DetectorBank`
row while it arrives in large batches and with its own
:class:`~chimera_engine.anomaly.ensemble.Ensemble` when it arrives alone (one
numpy pass for a single sample costs more than the whole scalar path). Moving
keeps every learned number, so the metric decides exactly as if it had never
moved (tested). The caches the scalar members keep (a bucket, a weight, a decay
per spacing) are left empty: they are recomputed from the same inputs.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

from chimera_engine.anomaly.bank import DetectorBank
from chimera_engine.anomaly.ensemble import Ensemble, EnsembleConfig


def to_ensemble(bank: DetectorBank, row: int, config: EnsembleConfig) -> Ensemble:
    """An ensemble holding exactly the state of ``bank`` row ``row``."""
    e = Ensemble(config)
    z, w, tr, cx, se = bank.zscore, bank.ewma, bank.trend, bank.context, bank.seasonal
    e.zscore.n, e.zscore.mean, e.zscore.var = int(z.n[row]), float(z.mean[row]), float(z.var[row])
    e.ewma.n = int(w.n[row])
    e.ewma.level, e.ewma.mean, e.ewma.var = (
        float(w.level[row]),
        float(w.mean[row]),
        float(w.var[row]),
    )
    e.trend.n, e.trend.prev = int(tr.n[row]), float(tr.prev[row])
    e.trend.fast_slope, e.trend.slow_slope = float(tr.fast_slope[row]), float(tr.slow_slope[row])
    e.trend.var = float(tr.var[row])
    c = e.context
    c.n = int(cx.n[row])
    c.lo, c.hi, c.sm, c.peak = (
        float(cx.lo[row]),
        float(cx.hi[row]),
        float(cx.sm[row]),
        float(cx.peak[row]),
    )
    kept = min(c.n, c.order)
    c.syms = [int(s) for s in cx.syms[row, cx.order - kept :]] if kept else []
    c.table = bytearray(cx.table[row].tobytes())
    s = e.seasonal
    s.mean = array("f", se.mean[row].tobytes())
    s.dev = array("f", se.dev[row].tobytes())
    s.visits = array("H", se.visits[row].tobytes())
    s.last_t = float(se.last_t[row])
    e.records = [float(r) for r in bank.records[:, row]]
    e.peak = float(bank.peak[row])
    e.n = int(bank.n[row])
    e.skipped = int(bank.skipped[row])
    e.rest_until = int(bank.rest_until[row])
    e.rest_score = float(bank.rest_score[row])
    e.last_t = float(bank.last_t[row])
    e.first_t = float(bank.first_t[row])
    last_alert_t = float(bank.last_alert_t[row])
    e.last_alert_t = None if math.isnan(last_alert_t) else last_alert_t
    e.last_alert_n = int(bank.last_alert_n[row])
    e.calm = [float(r) for r in bank.calm[:, row]] if bank.has_calm[row] else None
    e.below_floor = int(bank.below_floor[row])
    return e


def into_bank(e: Ensemble, bank: DetectorBank, row: int) -> None:
    """Write the state of ``e`` into ``bank`` row ``row`` (with ``e``'s weights and
    alert threshold)."""
    z, w, tr, cx, se = bank.zscore, bank.ewma, bank.trend, bank.context, bank.seasonal
    z.n[row], z.mean[row], z.var[row] = e.zscore.n, e.zscore.mean, e.zscore.var
    w.n[row], w.level[row], w.mean[row], w.var[row] = (
        e.ewma.n,
        e.ewma.level,
        e.ewma.mean,
        e.ewma.var,
    )
    tr.n[row], tr.prev[row] = e.trend.n, e.trend.prev
    tr.fast_slope[row], tr.slow_slope[row], tr.var[row] = (
        e.trend.fast_slope,
        e.trend.slow_slope,
        e.trend.var,
    )
    c = e.context
    cx.n[row], cx.lo[row], cx.hi[row], cx.sm[row], cx.peak[row] = c.n, c.lo, c.hi, c.sm, c.peak
    cx.syms[row] = 0
    if c.syms:
        cx.syms[row, cx.order - len(c.syms) :] = c.syms
    cx.table[row] = np.frombuffer(bytes(c.table), dtype=np.uint8)
    s = e.seasonal
    se.mean[row] = np.frombuffer(s.mean.tobytes(), dtype=np.float32)
    se.dev[row] = np.frombuffer(s.dev.tobytes(), dtype=np.float32)
    se.visits[row] = np.frombuffer(s.visits.tobytes(), dtype=np.uint16)
    se.last_t[row] = s.last_t
    bank.records[:, row] = e.records
    bank.peak[row], bank.n[row], bank.skipped[row] = e.peak, e.n, e.skipped
    bank.rest_until[row], bank.rest_score[row] = e.rest_until, e.rest_score
    bank.last_t[row], bank.first_t[row] = e.last_t, e.first_t
    bank.last_alert_t[row] = math.nan if e.last_alert_t is None else e.last_alert_t
    bank.last_alert_n[row] = e.last_alert_n
    bank.has_calm[row] = e.calm is not None
    bank.calm[:, row] = math.inf if e.calm is None else e.calm
    bank.below_floor[row] = e.below_floor
    bank.configure(row, e.config)
