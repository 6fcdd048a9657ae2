"""AnomalyDetectionEngine: per-metric ensembles, buffers, forecasts and predictive alerts.

Cost of each call (measure with benchmarks/bench_anomaly.py):

- :meth:`AnomalyDetectionEngine.observe` - cheap (~10 us): buffer append +
  ensemble score/learn. Call it on the event loop for every sample.
- :meth:`AnomalyDetectionEngine.forecast` / :meth:`check_forecasts` - under 1 ms
  per metric (a robust Holt fit on the buffer averaged into 250 steps; a
  predicted crossing costs a second fit to confirm it). Only metrics with
  thresholds and new samples are checked. Fine on the loop for a few dozen
  metrics; for many, run ``check_forecasts`` in an executor (it only reads
  buffers; don't call ``observe`` concurrently from another thread).

Per metric the engine holds about 11.4 KB at 1,000 points: the 8-byte-a-sample
buffer, the ensemble's state and the input status; operator settings
(:class:`~chimera_engine.metrics.settings.MetricSettings`) are shared objects.
- IsolationForest fitting is not done here: use
  :class:`~chimera_engine.anomaly.iforest.IsolationForestDetector.fit_async`.
- :meth:`AnomalyDetectionEngine.observe_many` - a batch (a scrape, a pushed batch).
  Metrics that arrive in batches of at least :data:`BANK_MIN` samples live in a
  :class:`~chimera_engine.anomaly.bank.DetectorBank` row and are scored in one numpy
  pass per batch (about 1 us a sample at 10,000 metrics instead of ~10); the others
  keep their own :class:`~chimera_engine.anomaly.ensemble.Ensemble`. A metric new in
  such a batch starts in the bank, one with its own ensemble moves in with its
  :data:`JOIN_AFTER`-th such batch in a row, and a banked metric that gets a lone sample moves
  out (:mod:`~chimera_engine.anomaly.convert`: nothing learned is lost). Either way it
  gives the same scores, alerts and incidents (tested).

An alert is raised only when the move is news as well as rare: ``|value -
expected|`` must reach the metric's effect-size floor
(:mod:`~chimera_engine.anomaly.floors`; ``effect_floor`` picks it by metric name).

Bad input never raises and never sticks: NaN/inf samples (and times past
:data:`TIME_LIMIT`) and out-of-order timestamps are counted and skipped (see
:class:`MetricStatus`); a constant metric scores 0; a metric that goes quiet is
dropped by :meth:`expire` and starts afresh (keeping its operator settings) when it
comes back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from chimera_engine.anomaly.bank import DetectorBank
from chimera_engine.anomaly.convert import into_bank, to_ensemble
from chimera_engine.anomaly.ensemble import MEMBERS, AnomalyKind, Ensemble, EnsembleConfig
from chimera_engine.anomaly.floors import EffectFloor, floor_for
from chimera_engine.anomaly.forecast import Crossing, Forecast, ForecastEngine
from chimera_engine.anomaly.predictions import PredictiveAlert as PredictiveAlert
from chimera_engine.anomaly.predictions import Withdrawal
from chimera_engine.anomaly.series import TIME_LIMIT as TIME_LIMIT
from chimera_engine.anomaly.series import AnomalyEvent as AnomalyEvent
from chimera_engine.anomaly.series import MetricState
from chimera_engine.anomaly.series import MetricStatus as MetricStatus
from chimera_engine.anomaly.watch import MAX_HORIZON as MAX_HORIZON
from chimera_engine.anomaly.watch import PredictionWatch
from chimera_engine.metrics.buffer import TimeSeriesBuffer
from chimera_engine.metrics.settings import MetricSettings, alert_threshold

#: Forecasts average the whole buffer into at most this many steps.
FORECAST_BINS = 250
#: Metrics first seen in a batch of at least this many samples are scored in a bank.
BANK_MIN = 64
#: A metric with its own ensemble moves into the bank with its JOIN_AFTER-th large
#: batch in a row.
JOIN_AFTER = 3


#: A sample of a batch: its place in the batch, metric, time and value.
_Sample = tuple[int, str, float, float]


class AnomalyDetectionEngine:
    """Anomaly detection for named metrics; pure CPU, no asyncio, not thread-safe."""

    def __init__(
        self,
        config: EnsembleConfig | None = None,
        buffer_capacity: int = 1000,
        gap_factor: float = 10.0,
        predictive_horizon: int = 120,
        predictive_cooldown_s: float = 900.0,
        predictive_horizon_s: float = 7200.0,
        min_trend_z: float = 3.0,
        predictive_min_points: int = 30,
        predictive_confirm: int = 10,
        effect_floor: Callable[[str], EffectFloor] = floor_for,
    ) -> None:
        self.config = config or EnsembleConfig()
        self.buffer_capacity = buffer_capacity
        self.gap_factor = gap_factor
        self.effect_floor = effect_floor
        self.forecaster = ForecastEngine(max_points=buffer_capacity, bin_to=FORECAST_BINS)
        self.watch = PredictionWatch(
            self.forecaster,
            horizon_steps=predictive_horizon,
            cooldown_s=predictive_cooldown_s,
            horizon_s=predictive_horizon_s,
            min_trend_z=min_trend_z,
            min_points=predictive_min_points,
            confirm=predictive_confirm,
        )
        self._metrics: dict[str, MetricState] = {}
        self._settings: dict[str, MetricSettings] = {}
        self._configs: dict[tuple[str, float], EnsembleConfig] = {}
        self._bank: DetectorBank | None = None
        self._by_row: dict[int, MetricState] = {}

    def metrics(self) -> list[str]:
        """Names of the metrics currently tracked."""
        return list(self._metrics)

    def status(self, metric: str) -> MetricStatus | None:
        """Input health of ``metric`` (None when unknown)."""
        m = self._metrics.get(metric)
        return None if m is None else m.status

    def _get(self, metric: str, banked: bool = False) -> MetricState:
        m = self._metrics.get(metric)
        if m is None:
            settings = self._settings.get(metric)
            config = self.config if settings is None else self._config_for(settings)
            floor = self.effect_floor(metric)
            if banked:
                if self._bank is None:
                    self._bank = DetectorBank(capacity=BANK_MIN, config=self.config)
                row = self._bank.add(metric)
                m = MetricState(config, self.buffer_capacity, floor, self._bank, row)
                self._by_row[row] = m
            else:
                m = MetricState(config, self.buffer_capacity, floor)
            self._metrics[metric] = m
        return m

    def banked(self, metric: str) -> bool:
        """Whether ``metric`` is scored in the bank (else by its own ensemble)."""
        m = self._metrics.get(metric)
        return m is not None and m.ensemble is None

    def _config_for(self, settings: MetricSettings) -> EnsembleConfig:
        """The shared config of a (detector, sensitivity) pair (one object per pair)."""
        key = (settings.detector, settings.sensitivity)
        config = self._configs.get(key)
        if config is None:
            if settings.detector == "ensemble":
                weights = self.config.weights
            else:
                w = [1.0 if m == settings.detector else 0.0 for m in MEMBERS]
                weights = (w[0], w[1], w[2], w[3], w[4])
            config = replace(
                self.config,
                weights=weights,
                alert_threshold=alert_threshold(settings.sensitivity),
            )
            self._configs[key] = config
        return config

    def effective_config(self, metric: str) -> EnsembleConfig:
        """The ensemble parameters ``metric`` runs with (its settings applied)."""
        m = self._metrics.get(metric)
        if m is not None:
            return m.config
        settings = self._settings.get(metric)
        return self.config if settings is None else self._config_for(settings)

    def settings(self, metric: str) -> MetricSettings:
        """The operator settings of ``metric`` (the defaults when none were set)."""
        return self._settings.get(metric) or MetricSettings()

    def configure(self, metric: str, settings: MetricSettings) -> None:
        """Apply ``settings`` to ``metric`` now (and whenever it reappears).

        The detector and sensitivity take effect on the next sample; every member
        keeps its learned state.
        """
        settings = settings.validated()
        if settings.is_default:
            self._settings.pop(metric, None)
        else:
            self._settings[metric] = settings
        m = self._metrics.get(metric)
        if m is not None:
            m.configure(self._config_for(settings))

    def observe(self, metric: str, t: float, value: float) -> AnomalyEvent | None:
        """Feed one sample; returns an event when it raises an (un-cooled) anomaly alert."""
        m = self._metrics.get(metric)
        if m is None:
            m = self._get(metric)
        if not m.accept(t, value, self.gap_factor):
            return None
        ensemble = m.ensemble
        if ensemble is None:  # alone: one numpy pass would cost more than its own ensemble
            ensemble = self._leave_bank(metric, m)
        m.batched = 0
        score = m.score = ensemble.score_learn(value, t)
        alert = ensemble.alert
        if alert is None:
            return None
        return self._event(metric, m, t, value, alert.expected, score, alert.kind)

    def observe_many(
        self, metrics: Sequence[str], ts: Sequence[float], values: Sequence[float]
    ) -> list[AnomalyEvent]:
        """Feed a batch: ``values[i]`` of ``metrics[i]`` at ``ts[i]``, each metric's
        samples in time order. Returns the alerts raised, in the order :meth:`observe`
        one by one would raise them.

        The batch is scored in rounds: the first sample of every metric, then the
        second of those with two, and so on. A round of at least :data:`BANK_MIN`
        samples goes through the bank (metrics new to the engine start there); a
        smaller one through the metrics' own ensembles. So a batch that repeats a
        few metrics many times costs what :meth:`observe` one by one costs, not a
        numpy pass per sample."""
        if len(metrics) < BANK_MIN:
            events: list[AnomalyEvent] = []
            for metric, t, value in zip(metrics, ts, values, strict=True):
                event = self.observe(metric, t, value)
                if event is not None:
                    events.append(event)
            return events
        rounds: list[list[_Sample]] = [[]]
        seen: dict[str, int] = {}
        for i, (metric, t, value) in enumerate(zip(metrics, ts, values, strict=True)):
            k = seen.get(metric, 0)
            seen[metric] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append((i, metric, t, value))
        found: list[tuple[int, AnomalyEvent]] = []
        for samples in rounds:
            found += self._observe_round(samples)
        if len(rounds) > 1:  # back in sample order (incidents open and fold by it)
            found.sort(key=lambda f: f[0])
        return [event for _, event in found]

    def _observe_round(self, samples: list[_Sample]) -> list[tuple[int, AnomalyEvent]]:
        """One sample each of distinct metrics (see :meth:`observe_many`); the events
        raised, each with its sample's place in the batch."""
        events: list[tuple[int, AnomalyEvent]] = []
        known, gap_factor = self._metrics, self.gap_factor
        if len(samples) < BANK_MIN:
            for i, metric, t, value in samples:
                event = self.observe(metric, t, value)
                if event is not None:
                    events.append((i, event))
            return events
        batch: list[tuple[int, str, MetricState, float, float]] = []
        for i, metric, t, value in samples:
            m = known.get(metric)
            if m is None:
                m = self._get(metric, banked=True)
            if m.ensemble is not None:
                batched = m.batched + 1
                if batched < JOIN_AFTER:
                    event = self.observe(metric, t, value)
                    m.batched = batched
                    if event is not None:
                        events.append((i, event))
                    continue
                self._join_bank(metric, m)
            if m.accept(t, value, gap_factor):
                batch.append((i, metric, m, t, value))
        if batch:
            events += self._tick_bank(batch)
        return events

    def _tick_bank(
        self, batch: list[tuple[int, str, MetricState, float, float]]
    ) -> list[tuple[int, AnomalyEvent]]:
        """Score accepted samples of distinct banked metrics in one bank pass."""
        bank = self._bank
        assert bank is not None
        rows = np.fromiter((s[2].row for s in batch), np.intp, len(batch))
        ts = np.fromiter((s[3] for s in batch), np.float64, len(batch))
        xs = np.fromiter((s[4] for s in batch), np.float64, len(batch))
        scores, alerts = bank.tick_rows(rows, ts, xs, self._is_news)
        for s, score in zip(batch, scores.tolist(), strict=True):
            s[2].score = score
        if not alerts:
            return []
        index = {row: j for j, row in enumerate(rows.tolist())}
        events: list[tuple[int, AnomalyEvent]] = []
        for row, alert in alerts:
            i, metric, m, t, value = batch[index[row]]
            event = self._event(metric, m, t, value, alert.expected, alert.score, alert.kind)
            events.append((i, event))
        return events

    def _join_bank(self, metric: str, m: MetricState) -> None:
        """Move ``m`` from its own ensemble into a bank row (nothing learned is lost)."""
        assert m.ensemble is not None
        if self._bank is None:
            self._bank = DetectorBank(capacity=BANK_MIN, config=self.config)
        row = self._bank.add(metric)
        into_bank(m.ensemble, self._bank, row)
        m.ensemble, m.bank, m.row = None, self._bank, row
        self._by_row[row] = m

    def _leave_bank(self, metric: str, m: MetricState) -> Ensemble:
        """Move ``m`` from its bank row to an ensemble of its own (nothing is lost)."""
        bank = m.bank
        assert bank is not None
        ensemble = m.ensemble = to_ensemble(bank, m.row, m.config)
        ensemble.news = m.is_news
        del self._by_row[m.row]
        bank.remove(metric)
        m.bank, m.row = None, -1
        return ensemble

    def _is_news(self, row: int, value: float, expected: float) -> bool:
        return self._by_row[row].is_news(value, expected)

    def _event(
        self,
        metric: str,
        m: MetricState,
        t: float,
        value: float,
        expected: float,
        score: float,
        kind: AnomalyKind,
    ) -> AnomalyEvent:
        band = m.band()
        if m.episode_band is None:
            m.episode_band = band
        return AnomalyEvent(metric, t, value, expected, score, kind, band)

    def score(self, metric: str) -> float | None:
        """The score of ``metric``'s latest accepted sample (None when unknown)."""
        m = self._metrics.get(metric)
        return None if m is None else m.score

    def normal_band(self, metric: str) -> tuple[float, float] | None:
        """``(level, half_width)`` of ``metric``'s normal as learned so far: the baseline
        level and the larger of its effect-size floor and three standard deviations.
        Read it when an anomaly is raised (the anomaly itself is not learned yet)."""
        m = self._metrics.get(metric)
        return None if m is None else m.band()

    def rearm(self, metric: str) -> bool:
        """``metric``'s episode is over: see :meth:`Ensemble.rearm`. For the next
        ``rearm_points * 5`` samples a return into the normal it had before the episode
        is no news (the fault's after-effects, e.g. an error rate falling back to 0)."""
        m = self._metrics.get(metric)
        if m is None or not m.rearm():
            return False
        m.recover_band, m.episode_band = m.episode_band, None
        m.recover_until = m.status.samples + 5 * m.config.rearm_points
        return True

    def last_value(self, metric: str) -> float | None:
        """The latest accepted sample of ``metric`` (None when unknown)."""
        m = self._metrics.get(metric)
        if m is None or len(m.buffer) == 0:
            return None
        return float(m.buffer.latest(1)[1][-1])

    def buffer(self, metric: str) -> TimeSeriesBuffer | None:
        """The ring buffer of ``metric`` (read it on the loop thread; None when unknown)."""
        m = self._metrics.get(metric)
        return None if m is None else m.buffer

    def thresholds(self, metric: str) -> list[float]:
        """The thresholds watched for ``metric``: the operator's, else the defaults."""
        settings = self._settings.get(metric)
        if settings is not None and settings.thresholds is not None:
            return list(settings.thresholds)
        m = self._metrics.get(metric)
        return list(m.thresholds) if m is not None else []

    def set_thresholds(self, metric: str, *thresholds: float) -> None:
        """Default thresholds that predictive alerts watch for ``metric`` (replaces the
        old defaults; thresholds an operator set in :meth:`configure` take precedence)."""
        self._get(metric).thresholds = list(thresholds)

    def forecast(self, metric: str, horizon: int = 60) -> Forecast | None:
        """Forecast about ``horizon`` sample steps of ``metric`` (None without enough data).

        The model's steps may be bins of several samples: the path then has fewer,
        wider steps covering the same time.
        """
        m = self._metrics.get(metric)
        if m is None or len(m.buffer) < self.forecaster.min_points:
            return None
        model = self.forecaster.fit(m.buffer.values(), m.buffer.timestamps())
        return model.forecast(max(1, math.ceil(horizon / model.samples_per_step)))

    def predict_crossing(self, metric: str, threshold: float) -> Crossing | None:
        """When ``metric`` is forecast to cross ``threshold`` (None: not within the horizon)."""
        m = self._metrics.get(metric)
        if m is None or len(m.buffer) < self.forecaster.min_points:
            return None
        model = self.forecaster.fit(m.buffer.values(), m.buffer.timestamps())
        return model.predict_crossing(threshold, self.watch.horizon(model.step_s))

    def check_forecasts(self, now: float) -> list[PredictiveAlert]:
        """Predictive alerts for every metric with thresholds (see
        :class:`~chimera_engine.anomaly.watch.PredictionWatch`)."""
        metrics = ((name, m, self.thresholds(name)) for name, m in self._metrics.items())
        return self.watch.check_forecasts(now, metrics)

    def check_withdrawals(self, now: float, grace_s: float = 120.0) -> list[Withdrawal]:
        """Standing predictions that no longer hold, each withdrawn once (see
        :class:`~chimera_engine.anomaly.watch.PredictionWatch`)."""
        return self.watch.check_withdrawals(now, self._metrics.values(), grace_s)

    def standing_predictions(self) -> list[PredictiveAlert]:
        """Predictions made and not withdrawn, oldest first."""
        found = [m.prediction for m in self._metrics.values() if m.prediction is not None]
        return sorted(found, key=lambda p: p.t)

    def expire(self, now: float, ttl_s: float) -> list[str]:
        """Forget metrics with no accepted sample for ``ttl_s`` seconds; returns their names."""
        gone = [n for n, m in self._metrics.items() if now - m.status.last_t > ttl_s]
        for name in gone:
            self.remove(name)
        return gone

    def remove(self, metric: str) -> None:  # its standing prediction goes with it
        """Forget ``metric`` now (it disappeared); a later sample starts it afresh."""
        m = self._metrics.pop(metric, None)
        if m is not None and m.bank is not None:
            del self._by_row[m.row]
            m.bank.remove(metric)
