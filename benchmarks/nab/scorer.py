"""Our own implementation of the Numenta Anomaly Benchmark (NAB) scoring.

It follows NAB's published rules (nab/sweeper.py, version 1.1):

- the first 15% of a file (at most 750 rows) is probationary and not scored;
- a row inside an anomaly window earns, if it is the window's *first*
  detection, ``scaled_sigmoid(position) / scaled_sigmoid(-1) * tp_weight``
  where ``position = -(right_index - i + 1) / window_width`` runs from -1 at
  the left edge to ~0 at the right edge; later detections in the window earn
  nothing;
- a detection outside every window costs ``fp_weight`` (times
  ``scaled_sigmoid(distance past the previous window / (width - 1))``, which is
  milder right after a window; -1 before the first window);
- an undetected window costs ``fn_weight``;
- one threshold, shared by every file, turns scores into detections; the
  threshold that maximises the total score is chosen ("optimize");
- normalised score = 100 * (S - S_null) / (S_perfect - S_null) where the null
  detector finds nothing (S = -fn_weight * windows) and the perfect one finds
  every window at its left edge (S = tp_weight * windows).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PROFILES: dict[str, tuple[float, float, float]] = {
    # name: (tp_weight, fp_weight, fn_weight)
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}
PROBATION_PERCENT = 0.15


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: ~+1 far before a window's right edge, -1 well past it."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_rows(n_rows: int) -> int:
    """Rows at the start of a file that are not scored (NAB: 15%, at most 750)."""
    return int(min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_PERCENT * 5000))


@dataclass(frozen=True)
class ScoredFile:
    """Per-row scoring facts of one file, independent of the threshold and profile.

    ``window_id[i]`` is the global id of the window row ``i`` lies in, -1 outside
    windows, -2 in the probationary period. ``tp_value[i]`` is the unweighted TP
    credit of row ``i`` (inside a window) and ``fp_value[i]`` the unweighted FP
    cost multiplier (outside, negative).
    """

    name: str
    scores: np.ndarray
    window_id: np.ndarray
    tp_value: np.ndarray
    fp_value: np.ndarray
    n_windows: int


def prepare_file(
    name: str,
    timestamps: Sequence[float],
    scores: np.ndarray,
    windows: Sequence[tuple[float, float]],
    first_window_id: int,
) -> ScoredFile:
    """Assign each row its window and its unweighted credit/cost (timestamps in seconds)."""
    n = len(timestamps)
    ts = np.asarray(timestamps, dtype=np.float64)
    window_id = np.full(n, -1, dtype=np.int64)
    tp_value = np.zeros(n)
    fp_value = np.zeros(n)
    spans: list[tuple[int, int]] = []
    for start, end in windows:
        left = int(np.searchsorted(ts, start, side="left"))
        right = int(np.searchsorted(ts, end, side="right")) - 1
        spans.append((left, right))
    max_tp = scaled_sigmoid(-1.0)
    prev_right: int | None = None
    prev_width = 0
    span_index = 0
    for i in range(n):
        while span_index < len(spans) and spans[span_index][1] < i:
            prev_right, prev_width = (
                spans[span_index][1],
                spans[span_index][1] - spans[span_index][0] + 1,
            )
            span_index += 1
        if span_index < len(spans) and spans[span_index][0] <= i <= spans[span_index][1]:
            left, right = spans[span_index]
            width = right - left + 1
            tp_value[i] = scaled_sigmoid(-(right - i + 1) / width) / max_tp
            window_id[i] = first_window_id + span_index
        elif prev_right is None:
            fp_value[i] = -1.0
        else:
            fp_value[i] = scaled_sigmoid(abs(prev_right - i) / float(max(prev_width - 1, 1)))
    window_id[: probation_rows(n)] = -2
    return ScoredFile(
        name, np.asarray(scores, dtype=np.float64), window_id, tp_value, fp_value, len(spans)
    )


@dataclass(frozen=True)
class ProfileResult:
    """The optimum of one profile: threshold, raw and normalised score, counts."""

    profile: str
    threshold: float
    raw: float
    normalised: float
    tp: int
    fp: int
    fn: int


def sweep(files: Sequence[ScoredFile], profile: str) -> ProfileResult:
    """Sweep one shared threshold over every file; return the best total score."""
    tp_w, fp_w, fn_w = PROFILES[profile]
    n_windows = sum(f.n_windows for f in files)
    scores = np.concatenate([f.scores for f in files])
    wid = np.concatenate([f.window_id for f in files])
    tpv = np.concatenate([f.tp_value for f in files])
    fpv = np.concatenate([f.fp_value for f in files])
    keep = wid != -2
    scores, wid, tpv, fpv = scores[keep], wid[keep], tpv[keep], fpv[keep]
    order = np.argsort(-scores, kind="stable")
    best_credit = np.zeros(max(n_windows, 1))
    detected = 0
    tp_sum = 0.0
    fp_sum = 0.0
    fp_count = 0
    # Threshold above every score: nothing detected.
    best = ProfileResult(profile, 1.1, -fn_w * n_windows, 0.0, 0, 0, n_windows)
    null, perfect = -fn_w * n_windows, tp_w * n_windows
    s_sorted = scores[order]
    k = 0
    total = len(order)
    while k < total:
        theta = s_sorted[k]
        while k < total and s_sorted[k] == theta:
            i = order[k]
            w = wid[i]
            if w < 0:
                fp_sum += fpv[i] * fp_w
                fp_count += 1
            else:
                credit = tpv[i]
                if best_credit[w] == 0.0:
                    detected += 1
                    best_credit[w] = credit
                    tp_sum += credit * tp_w
                elif credit > best_credit[w]:
                    tp_sum += (credit - best_credit[w]) * tp_w
                    best_credit[w] = credit
            k += 1
        raw = tp_sum + fp_sum - fn_w * (n_windows - detected)
        if raw > best.raw:
            norm = 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0
            best = ProfileResult(
                profile, float(theta), raw, norm, detected, fp_count, n_windows - detected
            )
    return best


def score_at(files: Sequence[ScoredFile], profile: str, threshold: float) -> ProfileResult:
    """The score of a fixed threshold (used for per-category breakdowns)."""
    tp_w, fp_w, fn_w = PROFILES[profile]
    raw = 0.0
    tp = fp = fn = 0
    n_windows = 0
    for f in files:
        hit = (f.scores >= threshold) & (f.window_id != -2)
        outside = hit & (f.window_id == -1)
        raw += float(np.sum(f.fp_value[outside])) * fp_w
        fp += int(np.sum(outside))
        ids = np.unique(f.window_id[f.window_id >= 0])
        n_windows += f.n_windows
        found = 0
        for w in ids:
            in_w = hit & (f.window_id == w)
            if in_w.any():
                raw += float(f.tp_value[np.argmax(in_w)]) * tp_w
                found += 1
        tp += found
        fn += f.n_windows - found
        raw -= fn_w * (f.n_windows - found)
    null, perfect = -fn_w * n_windows, tp_w * n_windows
    norm = 100.0 * (raw - null) / (perfect - null) if n_windows else 0.0
    return ProfileResult(profile, threshold, raw, norm, tp, fp, fn)
