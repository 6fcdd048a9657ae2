"""Small helpers shared by the benchmark scripts: timing and reporting."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def per_call_us(fn: Callable[[], object], *, number: int, repeat: int = 7) -> tuple[float, float]:
    """Median and best time per call in microseconds over ``repeat`` runs of ``number`` calls."""
    runs: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs), min(runs)


def report(name: str, value: float, unit: str, target: str = "") -> None:
    line = f"{name:<48} {value:>12.2f} {unit:<10}"
    if target:
        line += f" (target {target})"
    print(line, flush=True)
