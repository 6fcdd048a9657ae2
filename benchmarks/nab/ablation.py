"""Ablation of the live ensemble: NAB score and cost with each member removed.

Run: ``.venv/bin/python benchmarks/nab/ablation.py [--data ../shared/nab]``.

For the shipped ensemble, for each weighted member set to weight 0 and for
each unweighted member given weight 0.5, the live engine's
alerts are scored leave-one-family-out (a 3-point alert-threshold grid, see
:mod:`lofo`) on the standard profile. Cost is each member's own time per
sample (score then learn, CPython, one core) on a 1 Hz noisy series; a member
with weight 0 still costs its time when the ensemble computes it (it only
informs the anomaly type), so "removed" saves that time only if the code drops
the member.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import DEFAULT_ROOT, load_corpus
from lofo import family_mean, grid, held_out, run_config

from chimera_engine.anomaly.ensemble import MEMBERS, Ensemble, EnsembleConfig


def member_cost_us(n: int = 20000) -> dict[str, float]:
    """Microseconds per sample of each member's score_one + learn_one."""
    rng = random.Random(7)
    xs = [10.0 + rng.gauss(0.0, 1.0) + 3.0 * math.sin(i / 300.0) for i in range(n)]
    ts = [1_700_000_000.0 + i for i in range(n)]
    ens = Ensemble()
    out: dict[str, float] = {}
    members = {
        "zscore": ens.zscore,
        "ewma": ens.ewma,
        "trend": ens.trend,
        "seasonal": ens.seasonal,
    }
    for name, det in members.items():
        start = time.perf_counter()
        for x, t in zip(xs, ts, strict=True):
            det.score_one(x, t)
            det.learn_one(x, t)
        out[name] = (time.perf_counter() - start) / n * 1e6
    ctx = ens.context
    start = time.perf_counter()
    for x in xs:
        keys = ctx.contexts(x)
        ctx.raw_novelty(x, keys)
        ctx.observe(x, True, keys)
    out["context"] = (time.perf_counter() - start) / n * 1e6
    ens = Ensemble()
    start = time.perf_counter()
    for x, t in zip(xs, ts, strict=True):
        ens.score_learn(x, t)
    out["ensemble (all)"] = (time.perf_counter() - start) / n * 1e6
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args(argv)
    if not (args.data / "combined_windows.json").exists():
        print(f"NAB data not found at {args.data}", file=sys.stderr)
        return 2
    corpus = load_corpus(args.data)
    base = EnsembleConfig()
    cost = member_cost_us()
    variants: dict[str, EnsembleConfig] = {"full ensemble": base}
    for i, m in enumerate(MEMBERS):
        if base.weights[i] > 0.0:
            w = list(base.weights)
            w[i] = 0.0
            variants[f"without {m}"] = replace(base, weights=(w[0], w[1], w[2], w[3], w[4]))
        else:
            w = list(base.weights)
            w[i] = 0.5
            variants[f"with {m} at 0.5"] = replace(base, weights=(w[0], w[1], w[2], w[3], w[4]))
    print("| variant | LOFO mean (std) | pooled held-out (std) | fp | fn |")
    print("|---|---|---|---|---|")
    for label, config in variants.items():
        runs = {lb: run_config(c, corpus) for lb, c in grid(True, config).items()}
        results, pooled = held_out(runs, "standard")
        print(
            f"| {label} | {family_mean(results):.1f} | {pooled.normalised:.1f} "
            f"| {pooled.fp} | {pooled.fn} |"
        )
    print("\n| member | weight | us per sample (score + learn) |")
    print("|---|---|---|")
    for name, us in cost.items():
        w = base.weights[MEMBERS.index(name)] if name in MEMBERS else float("nan")
        print(f"| {name} | {w:g} | {us:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
