"""Run a CHIMERA detector causally over the NAB subset and print NAB scores.

Run: ``.venv/bin/python benchmarks/nab/run.py [--detector ensemble] [--data ../shared/nab]``.

Honest protocol: one parameter set for every file, the detector restarts from
scratch on each file, row t's score uses rows 0..t only, labels are read only
by the scorer. The threshold is swept once for all files together (NAB's
"optimize" step) for each profile. For the ensemble, the live engine's alerts
(its own alert threshold and cooldown, nothing swept) are scored as well.

Only NAB's development subset (35 of 58 files) is available here; the 23
held-back files are not, so these figures are on data the detector was
developed on.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import DEFAULT_ROOT, NabFile, load_corpus
from scorer import PROFILES, ScoredFile, prepare_file, score_at, sweep

from chimera_engine.anomaly.ensemble import Ensemble
from chimera_engine.anomaly.registry import DETECTORS, make_series_scorer

SeriesScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def run_detector(
    corpus: list[NabFile], make: Callable[[], SeriesScorer]
) -> tuple[list[ScoredFile], float]:
    """Score every file with a fresh detector; return prepared files and points/s."""
    files: list[ScoredFile] = []
    next_window = 0
    points = 0
    elapsed = 0.0
    for f in corpus:
        scorer = make()
        start = time.perf_counter()
        scores = scorer(f.values, f.timestamps)
        elapsed += time.perf_counter() - start
        points += len(scores)
        if len(scores) != len(f.values) or not np.all((scores >= 0.0) & (scores <= 1.0)):
            raise SystemExit(f"{f.name}: scores must be one per row, in [0, 1]")
        prepared = prepare_file(f.name, f.timestamps, scores, f.windows, next_window)
        next_window += prepared.n_windows
        files.append(prepared)
    return files, points / elapsed if elapsed else 0.0


def live_alerts() -> SeriesScorer:
    """The live engine's *alerts* as detections (1 where an alert is raised, else 0):
    the ensemble's alert threshold and cooldown decide, no threshold is swept."""
    ensemble = Ensemble()

    def run(values: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
        out = np.zeros(len(values))
        for i, (x, t) in enumerate(zip(values.tolist(), timestamps.tolist(), strict=True)):
            ensemble.score_learn(x, t)
            out[i] = 1.0 if ensemble.alert is not None else 0.0
        return out

    return run


def read_outputs(corpus: list[NabFile], scores_dir: Path) -> list[ScoredFile]:
    """Prepared files from ``chimera detect`` outputs (column ``anomaly_score``)."""
    files: list[ScoredFile] = []
    next_window = 0
    for f in corpus:
        lines = (scores_dir / f.name).read_text().splitlines()[1:]
        scores = np.array([float(line.rsplit(",", 1)[1]) for line in lines])
        prepared = prepare_file(f.name, f.timestamps, scores, f.windows, next_window)
        next_window += prepared.n_windows
        files.append(prepared)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="ensemble", choices=[*DETECTORS, "all"])
    parser.add_argument("--data", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--files", action="store_true", help="per-file breakdown")
    parser.add_argument(
        "--scores-dir",
        type=Path,
        help="score the outputs of `chimera detect` found here instead of running a detector",
    )
    args = parser.parse_args(argv)
    if not (args.data / "combined_windows.json").exists():
        print(f"NAB data not found at {args.data}", file=sys.stderr)
        return 2
    corpus = load_corpus(args.data)
    names = list(DETECTORS) if args.detector == "all" else [args.detector]
    if args.scores_dir is not None:
        names = [f"chimera detect outputs in {args.scores_dir}"]
    for name in names:
        if args.scores_dir is not None:
            files, pps = read_outputs(corpus, args.scores_dir), 0.0
        else:
            files, pps = run_detector(corpus, lambda name=name: make_series_scorer(name))
        print(f"== {name}: {len(files)} files, {sum(f.n_windows for f in files)} windows")
        results = {p: sweep(files, p) for p in PROFILES}
        for profile, r in results.items():
            print(
                f"  {profile:<20} {r.normalised:6.1f}   threshold={r.threshold:.4f} "
                f"tp={r.tp} fp={r.fp} fn={r.fn}"
            )
        threshold = results["standard"].threshold
        categories = sorted({f.name.split("/")[0] for f in files})
        for cat in categories:
            sub = [f for f in files if f.name.startswith(cat + "/")]
            r = score_at(sub, "standard", threshold)
            print(f"    {cat:<24} standard={r.normalised:6.1f} tp={r.tp} fp={r.fp} fn={r.fn}")
        if args.files:
            for f in files:
                r = score_at([f], "standard", threshold)
                print(f"      {f.name:<62} tp={r.tp} fp={r.fp} fn={r.fn} raw={r.raw:+.2f}")
        if pps:
            print(f"  points/s (detector only, one core): {pps:,.0f}")
        if name == "ensemble" and args.scores_dir is None:
            alerts, _ = run_detector(corpus, live_alerts)
            scores = [score_at(alerts, p, 0.5) for p in PROFILES]
            print(
                "  live alerts (shipped alert threshold, cooldown):  "
                + "  ".join(
                    f"{p}={r.normalised:.1f}" for p, r in zip(PROFILES, scores, strict=True)
                )
                + f"  tp={scores[0].tp} fp={scores[0].fp} fn={scores[0].fn}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
