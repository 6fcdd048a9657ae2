"""``chimera detect``: score CSV files (``timestamp,value``) exactly as the live engine does.

For every input CSV (a file, or every ``*.csv`` under a directory) a fresh
:class:`~chimera_engine.anomaly.ensemble.Ensemble` with the default (one,
shared) parameter set scores the rows in order - causal: row t's score uses rows
0..t only - and ``<output-dir>/<relative path>`` gets the same rows with the
columns ``timestamp,value,anomaly_score`` (score in [0, 1]; timestamp and value
text copied verbatim). A file given directly keeps its base name; files under a
directory keep their path relative to it.

All inputs are parsed and validated before anything is written; a malformed
row raises :class:`DetectInputError` naming the file and line. Each output is
written to a temporary file beside its target and renamed into place, so no
half-written output ever exists. Timestamps may be ISO 8601 (naive = UTC) or
epoch seconds; values may be ``nan``/``inf`` (scored 0, not learned).

The CLI owner wires :func:`add_parser` and :func:`run` as ``chimera detect``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from chimera_engine.anomaly.ensemble import Ensemble


class DetectInputError(ValueError):
    """A bad input: the message names the file and, for a bad row, the line."""


@dataclass(frozen=True)
class _Parsed:
    source: Path
    target: Path
    rows: list[tuple[str, str]]
    times: list[float]
    values: list[float]


@dataclass
class DetectReport:
    """What ``detect_paths`` did: outputs written, points scored, speed."""

    outputs: list[Path] = field(default_factory=list)
    points: int = 0
    seconds: float = 0.0

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0


def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _fast_times(texts: list[str]) -> list[float] | None:
    """All timestamps at once (numpy, C speed), or None to fall back to row by row."""
    try:
        float(texts[0])
        numeric = True
    except ValueError:
        numeric = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if numeric:
                arr = np.array(texts, dtype=np.float64)
            else:
                us = np.array([t.strip() for t in texts], dtype="datetime64[us]")
                arr = us.astype(np.int64) / 1e6
    except ValueError:
        return None
    if not np.all(np.isfinite(arr)):
        return None
    return [float(v) for v in arr.tolist()]


def _parse_file(source: Path, target: Path) -> _Parsed:
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DetectInputError(f"{source}: cannot read: {exc}") from exc
    lines = text.splitlines()
    if not lines or [h.strip() for h in lines[0].split(",")] != ["timestamp", "value"]:
        raise DetectInputError(f"{source}:1: header must be 'timestamp,value'")
    rows: list[tuple[str, str]] = []
    times: list[float] = []
    values: list[float] = []
    linenos: list[int] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != 2:
            raise DetectInputError(f"{source}:{lineno}: expected 2 columns, got {len(parts)}")
        ts, vs = parts
        try:
            values.append(float(vs))
        except ValueError:
            raise DetectInputError(f"{source}:{lineno}: bad value {vs!r}") from None
        rows.append((ts, vs))
        linenos.append(lineno)
    fast = _fast_times([ts for ts, _ in rows]) if rows else []
    if fast is not None:
        times = fast
    else:
        for (ts, _), lineno in zip(rows, linenos, strict=True):
            try:
                t = _parse_time(ts)
            except ValueError:
                raise DetectInputError(f"{source}:{lineno}: bad timestamp {ts!r}") from None
            if not math.isfinite(t):
                raise DetectInputError(f"{source}:{lineno}: bad timestamp {ts!r}")
            times.append(t)
    return _Parsed(source, target, rows, times, values)


def collect_inputs(inputs: Sequence[Path], output_dir: Path) -> list[tuple[Path, Path]]:
    """(source, target) pairs for every input CSV; raises on missing or clashing paths."""
    pairs: list[tuple[Path, Path]] = []
    for root in inputs:
        if root.is_dir():
            pairs += [(p, output_dir / p.relative_to(root)) for p in sorted(root.rglob("*.csv"))]
        elif root.is_file():
            pairs.append((root, output_dir / root.name))
        else:
            raise DetectInputError(f"{root}: no such file or directory")
    seen: dict[Path, Path] = {}
    for source, target in pairs:
        if target in seen:
            raise DetectInputError(f"{source} and {seen[target]} would both write {target}")
        if target.resolve() == source.resolve():
            raise DetectInputError(f"{source}: output would overwrite the input")
        seen[target] = source
    return pairs


def score_values(values: Sequence[float], times: Sequence[float | None]) -> list[float]:
    """Scores of one series by a fresh live ensemble (what ``chimera detect`` writes)."""
    step = Ensemble().score_learn
    return [step(v, t) for v, t in zip(values, times, strict=True)]


def _score_and_write(parsed: _Parsed) -> int:
    scores = score_values(parsed.values, parsed.times)
    parsed.target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parsed.target.parent, prefix=".detect-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write("timestamp,value,anomaly_score\n")
            out.writelines(
                f"{ts},{vs},{s:.6f}\n" for (ts, vs), s in zip(parsed.rows, scores, strict=True)
            )
        os.replace(tmp, parsed.target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(scores)


def detect_paths(
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    progress: Callable[[Path, int], None] | None = None,
    jobs: int = 1,
) -> DetectReport:
    """Score every input CSV into ``output_dir``; validates all inputs first.

    ``progress(target, points)`` is called after each file is written. ``jobs`` > 1
    scores files in that many processes (results are identical).
    """
    start = time.perf_counter()
    parsed = [_parse_file(s, t) for s, t in collect_inputs(inputs, output_dir)]
    report = DetectReport()
    if jobs > 1 and len(parsed) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            counts = list(pool.map(_score_and_write, parsed))
    else:
        counts = [_score_and_write(p) for p in parsed]
    for p, count in zip(parsed, counts, strict=True):
        report.outputs.append(p.target)
        report.points += count
        if progress is not None:
            progress(p.target, count)
    report.seconds = time.perf_counter() - start
    return report


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """Register ``detect PATH... --output-dir DIR [--jobs N]``; returns the subparser."""
    p = subparsers.add_parser(
        "detect", parents=list(parents), help="score CSV files (timestamp,value) for anomalies"
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="CSV file or directory")
    p.add_argument("--output-dir", "-o", type=Path, required=True, help="where outputs go")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="processes")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the ``detect`` command; prints points per second; 2 on bad input."""
    try:
        report = detect_paths(args.paths, args.output_dir, jobs=max(1, int(args.jobs)))
    except DetectInputError as exc:
        print(f"chimera detect: {exc}", file=sys.stderr)
        return 2
    print(
        f"scored {report.points} points in {len(report.outputs)} files in "
        f"{report.seconds:.2f} s: {report.points_per_second:,.0f} points/s"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry: ``python -m chimera_engine.anomaly.csvtool PATH... -o DIR``."""
    parser = argparse.ArgumentParser(prog="chimera")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(["detect", *(argv if argv is not None else sys.argv[1:])]))


if __name__ == "__main__":
    raise SystemExit(main())
