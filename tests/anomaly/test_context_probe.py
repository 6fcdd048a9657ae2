"""The context detector's one-pass probe/advance (the ensemble's hot path) walks the same
states as contexts/raw_novelty/observe, on noise, steps, repeats and a widening range."""

from __future__ import annotations

import numpy as np

from chimera_engine.anomaly.context import ContextDetector


def _series() -> list[float]:
    rng = np.random.default_rng(11)
    noise = rng.normal(size=600)
    steps = np.repeat([0.0, 5.0, -3.0, 5.0], 150)
    cycle = np.tile([0.0, 1.0, 2.0, 1.0], 150)
    wide = np.linspace(0.0, 1e6, 600) * (rng.random(600) < 0.02)
    return [float(v) for v in np.concatenate([noise, steps + cycle, cycle, wide])]


def test_probe_and_advance_match_the_step_by_step_path() -> None:
    fast = ContextDetector(levels=6, table_bits=1 << 12, warmup=0)
    slow = ContextDetector(levels=6, table_bits=1 << 12, warmup=0)
    for i, x in enumerate(_series()):
        remember = i % 7 != 3  # some samples are not learned, as the gate does
        keys, novelty = fast.probe(x)
        assert keys == slow.contexts(x)
        assert novelty == slow.raw_novelty(x, keys)
        fast.advance(x, keys, novelty, remember)
        assert slow.observe(x, remember, keys) == novelty
        assert (fast.sm, fast.peak, fast.lo, fast.hi, fast.n) == (
            slow.sm,
            slow.peak,
            slow.lo,
            slow.hi,
            slow.n,
        )
        assert fast.syms == slow.syms and fast.table == slow.table
