"""Leave-one-family-out (LOFO) NAB scores of the live engine's alerts.

Run: ``.venv/bin/python benchmarks/nab/lofo.py [--data ../shared/nab] [--quick]``.

Protocol (nothing is chosen on the data it is scored on):

- Detections are the live engine's *alerts*: every file is fed sample by sample
  through :meth:`AnomalyDetectionEngine.observe` (the same per-metric ensemble,
  cooldown and alert logic the console runs); a row is a detection when
  ``observe`` returns an event. No score threshold is swept afterwards.
- A small grid of parameter sets (alert threshold, rest period, member weights)
  is run once over all 35 files. For each of the four families the parameter
  set with the best total score on the *other three* families is chosen, per
  profile, and its alerts on the held-out family are scored.
- ``artificialNoAnomaly`` has no windows, so its normalised score is undefined
  (0/0): we print its false alarms and their cost, and the *pooled* held-out
  score (every file scored with the set chosen without its family, one
  normalisation over all 55 windows) counts them.
- Finally the shipped defaults (:class:`EnsembleConfig`) are scored on all
  files: the one parameter set the live engine uses for every metric.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import DEFAULT_ROOT, NabFile, load_corpus
from scorer import PROFILES, ProfileResult, ScoredFile, prepare_file, score_at

from chimera_engine.anomaly.engine import AnomalyDetectionEngine
from chimera_engine.anomaly.ensemble import EnsembleConfig
from chimera_engine.anomaly.incidents import IncidentTracker, resolve_due


def engine_alerts(config: EnsembleConfig, f: NabFile) -> np.ndarray:
    """1.0 at every row where a fresh live engine raises an alert, else 0.0.

    As in the live hub, each alert joins (or opens) an incident and incidents back to
    normal are resolved, re-arming their metric (:func:`resolve_due`), at every sample.
    """
    engine = AnomalyDetectionEngine(config)
    tracker = IncidentTracker()
    out = np.zeros(len(f.values))
    observe = engine.observe
    name = f.name
    for i, (t, x) in enumerate(zip(f.timestamps.tolist(), f.values.tolist(), strict=True)):
        event = observe(name, t, x)
        if event is not None:
            out[i] = 1.0
            tracker.on_anomaly(name, t, event.score, engine.normal_band(name))
        elif tracker.open():
            resolve_due(tracker, engine, t)
    return out


def run_config(config: EnsembleConfig, corpus: Sequence[NabFile]) -> dict[str, ScoredFile]:
    files: dict[str, ScoredFile] = {}
    next_window = 0
    for f in corpus:
        prepared = prepare_file(
            f.name, f.timestamps, engine_alerts(config, f), f.windows, next_window
        )
        next_window += prepared.n_windows
        files[f.name] = prepared
    return files


def grid(quick: bool, base: EnsembleConfig | None = None) -> dict[str, EnsembleConfig]:
    """Named candidate parameter sets around ``base`` (the defaults when None)."""
    base = base or EnsembleConfig()
    thresholds = (0.55, 0.6, 0.65) if quick else (0.5, 0.55, 0.58, 0.6, 0.62, 0.65, 0.7)
    weights: dict[str, tuple[float, float, float, float, float]] = {"w=default": base.weights}
    if not quick:
        weights["w=+zscore"] = (0.5, *base.weights[1:])
        weights["w=+trend"] = (*base.weights[:2], 0.5, *base.weights[3:])
    out: dict[str, EnsembleConfig] = {}
    for wname, w in weights.items():
        for th in thresholds:
            out[f"{wname} thr={th}"] = replace(base, weights=w, alert_threshold=th)
    return out


def family_of(name: str) -> str:
    return name.split("/", 1)[0]


def held_out(
    runs: dict[str, dict[str, ScoredFile]], profile: str
) -> tuple[dict[str, tuple[ProfileResult, str]], ProfileResult]:
    """Per family: the held-out result and the label chosen on the other families;
    and the pooled held-out result over every file."""
    labels = list(runs)
    families = sorted({family_of(n) for n in runs[labels[0]]})

    def files_of(label: str, fams: Sequence[str]) -> list[ScoredFile]:
        return [f for name, f in runs[label].items() if family_of(name) in fams]

    out: dict[str, tuple[ProfileResult, str]] = {}
    pooled: list[ScoredFile] = []
    for fam in families:
        train = [x for x in families if x != fam]
        best = max(labels, key=lambda lb: score_at(files_of(lb, train), profile, 0.5).raw)
        held = files_of(best, [fam])
        pooled += held
        out[fam] = (score_at(held, profile, 0.5), best)
    return out, score_at(pooled, profile, 0.5)


def family_mean(results: dict[str, tuple[ProfileResult, str]]) -> float:
    """Mean normalised score of the families that have windows."""
    return float(np.mean([r.normalised for r, _ in results.values() if r.tp + r.fn]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--quick", action="store_true", help="a 3-point grid (smoke run)")
    args = parser.parse_args(argv)
    if not (args.data / "combined_windows.json").exists():
        print(f"NAB data not found at {args.data}", file=sys.stderr)
        return 2
    corpus = load_corpus(args.data)
    candidates = grid(args.quick)
    runs: dict[str, dict[str, ScoredFile]] = {}
    start = time.perf_counter()
    for label, config in candidates.items():
        runs[label] = run_config(config, corpus)
    elapsed = time.perf_counter() - start
    points = sum(len(f.values) for f in corpus) * len(candidates)
    print(
        f"grid: {len(candidates)} parameter sets x {len(corpus)} files "
        f"({points / elapsed:,.0f} points/s through AnomalyDetectionEngine.observe)"
    )

    for profile in PROFILES:
        print(f"\n== {profile}: held-out score per family (parameters chosen on the other three)")
        results, pooled = held_out(runs, profile)
        for fam, (r, best) in results.items():
            shown = f"{r.normalised:6.1f}" if r.tp + r.fn else "   n/a"
            print(
                f"  {fam:<24} {shown}  tp={r.tp} fp={r.fp} fn={r.fn} raw={r.raw:+.2f}  "
                f"chosen: {best}"
            )
        print(
            f"  mean of families with windows: {family_mean(results):.1f}   "
            f"pooled held-out: {pooled.normalised:.1f}"
        )
    print("\n== shipped defaults (EnsembleConfig()), all 35 files")
    shipped = list(run_config(EnsembleConfig(), corpus).values())
    for profile in PROFILES:
        s = score_at(shipped, profile, 0.5)
        print(f"  {profile:<20} {s.normalised:6.1f}  tp={s.tp} fp={s.fp} fn={s.fn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
