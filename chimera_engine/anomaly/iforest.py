"""IsolationForest over windowed features (scikit-learn), refitted periodically.

Features of sample t (from the last ``window`` samples, so causal): the value,
its difference from the window mean, the window's standard deviation, the
first difference and the window's range, each divided by a running scale.
The model is fitted on the last ``train_size`` feature rows every
``refit_every`` samples; until the first fit the score is 0. The score is
sklearn's anomaly score ``a`` in [0, 1] (0.5 is ordinary, near 1 is isolated)
mapped to ``max(0, 2a - 1)``: 0 for anything no easier to isolate than usual.

Threading: fitting costs tens of milliseconds. In the live engine call
:meth:`IsolationForestDetector.fit_async` (it runs :func:`fit_forest` in an
executor) or call :func:`fit_forest` yourself off the loop and hand the model to
:meth:`set_model`; with ``auto_fit=True`` (the default, for offline series)
``learn_one`` fits inline. Scoring one sample costs ~1 ms (sklearn overhead),
so the live path scores in batches with :meth:`score_features` rather than per
point; :meth:`score_series` does exactly that and equals the per-point result.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Executor

import numpy as np
from sklearn.ensemble import IsolationForest

from chimera_engine.anomaly.base import Detector, FloatArray

N_FEATURES = 5


def fit_forest(rows: FloatArray, n_estimators: int = 50, seed: int = 0) -> IsolationForest:
    """Fit a forest on feature rows (pure function: safe to run in an executor)."""
    model = IsolationForest(
        n_estimators=n_estimators, max_samples=min(256, len(rows)), random_state=seed
    )
    model.fit(rows)
    return model


class IsolationForestDetector(Detector):
    """Windowed-feature IsolationForest; deterministic for a given ``seed``."""

    name = "iforest"

    def __init__(
        self,
        window: int = 16,
        train_size: int = 1000,
        refit_every: int = 500,
        min_train: int = 100,
        n_estimators: int = 50,
        seed: int = 0,
        auto_fit: bool = True,
    ) -> None:
        self.window, self.train_size, self.refit_every = window, train_size, refit_every
        self.min_train, self.n_estimators, self.seed = min_train, n_estimators, seed
        self.auto_fit = auto_fit
        self.reset()

    def reset(self) -> None:
        self.recent: deque[float] = deque(maxlen=self.window)
        self.train: deque[FloatArray] = deque(maxlen=self.train_size)
        self.model: IsolationForest | None = None
        self.n = 0
        self.since_fit = 0
        self.scale = 0.0

    @property
    def fit_due(self) -> bool:
        """True when enough new samples arrived for a (re)fit."""
        if self.model is None:
            return len(self.train) >= self.min_train
        return self.since_fit >= self.refit_every

    def features(self, x: float) -> FloatArray:
        """The feature row of ``x`` given the current window (no state change)."""
        w = [*self.recent, x]
        mean = sum(w) / len(w)
        sd = math.sqrt(sum((v - mean) ** 2 for v in w) / len(w))
        prev = self.recent[-1] if self.recent else x
        s = self.scale + 1e-9 + 1e-6 * abs(mean)
        return np.array([x / s, (x - mean) / s, sd / s, (x - prev) / s, (max(w) - min(w)) / s])

    def score_features(self, rows: FloatArray) -> FloatArray:
        """Scores of many feature rows with the current model (0 without a model)."""
        if self.model is None or len(rows) == 0:
            return np.zeros(len(rows))
        raw = -np.asarray(self.model.score_samples(rows), dtype=np.float64)
        return np.clip(2.0 * raw - 1.0, 0.0, 1.0)

    def score_one(self, x: float, t: float | None = None) -> float:
        if not math.isfinite(x) or self.model is None:
            return 0.0
        return float(self.score_features(self.features(x)[None, :])[0])

    def learn_one(self, x: float, t: float | None = None) -> None:
        if not math.isfinite(x):
            return
        self.train.append(self.features(x))
        self.recent.append(x)
        self.n += 1
        self.scale += max(0.01, 1.0 / self.n) * (abs(x) - self.scale)
        self.since_fit += 1
        if self.auto_fit and self.fit_due:
            self.set_model(fit_forest(self.training_rows(), self.n_estimators, self.seed))

    def training_rows(self) -> FloatArray:
        """A copy of the training rows (hand this to :func:`fit_forest`)."""
        return np.array(self.train)

    def set_model(self, model: IsolationForest) -> None:
        """Install a model fitted elsewhere (e.g. in an executor)."""
        self.model = model
        self.since_fit = 0

    async def fit_async(self, executor: Executor | None = None) -> None:
        """Fit on the current training rows in ``executor`` and install the model."""
        rows = self.training_rows()
        loop = asyncio.get_running_loop()
        model = await loop.run_in_executor(executor, fit_forest, rows, self.n_estimators, self.seed)
        self.set_model(model)

    def score_series(
        self, values: Sequence[float] | FloatArray, timestamps: Sequence[float] | None = None
    ) -> FloatArray:
        """Causal scores, batched between refits (same result as per-point scoring)."""
        xs = np.asarray(values, dtype=np.float64)
        out = np.zeros(len(xs))
        pending: list[tuple[int, FloatArray]] = []

        def flush() -> None:
            if pending:
                idx = [i for i, _ in pending]
                out[idx] = self.score_features(np.array([r for _, r in pending]))
                pending.clear()

        for i, x in enumerate(xs.tolist()):
            if not math.isfinite(x):
                continue
            if self.model is not None:
                pending.append((i, self.features(x)))
            refit = self.auto_fit and self._would_refit()
            if refit:
                flush()
            self.learn_one(x)
        flush()
        return out

    def _would_refit(self) -> bool:
        if self.model is None:
            return len(self.train) + 1 >= self.min_train
        return self.since_fit + 1 >= self.refit_every
