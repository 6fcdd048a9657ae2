"""Synthetic series shared by the anomaly tests (seeded, no external data)."""

from __future__ import annotations

import numpy as np

N = 600
AT = 450


def noise(seed: int = 0, n: int = N) -> np.ndarray:
    """Gaussian noise around 50 with a mild daily-like wave."""
    rng = np.random.default_rng(seed)
    return 50.0 + 3.0 * np.sin(np.arange(n) * 2 * np.pi / 100) + rng.normal(0.0, 1.0, n)


def spike(seed: int = 0) -> np.ndarray:
    x = noise(seed)
    x[AT] += 40.0
    return x


def drop(seed: int = 0) -> np.ndarray:
    x = noise(seed)
    x[AT] -= 40.0
    return x


def trend(seed: int = 0) -> np.ndarray:
    x = noise(seed)
    x[AT:] += 0.8 * np.arange(N - AT)
    return x


def timestamps(n: int = N, step: float = 60.0) -> np.ndarray:
    return 1.7e9 + np.arange(n) * step


def pattern(seed: int = 0) -> np.ndarray:
    """A clean repeating sawtooth whose shape breaks (flat at mid level) at AT."""
    rng = np.random.default_rng(seed)
    x = 10.0 * ((np.arange(N) % 25) / 25.0) + rng.normal(0.0, 0.05, N)
    x[AT : AT + 30] = 5.0
    return x
