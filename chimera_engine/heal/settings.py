"""HealSettings: the ``[heal]`` section (metacognition: when to ask for a fix).

Only scalar fields, so the engine's TOML/environment loader reads it as is
(``CHIMERA_HEAL__MAX_REQUESTS_PER_HOUR=2``). Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from chimera_engine.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class HealSettings:
    """How the metacognitive engine judges tools and when it asks for a patch.

    Health, per tool version: ``alpha`` weighs each call in the running success
    rate; ``confidence`` is that rate lowered by recent anomalies on the tool's
    metrics (at most by ``anomaly_weight``, fading over ``anomaly_memory_seconds``).

    Triggers (any one starts *preventive learning*, a patch request with the
    evidence attached): the same failure (exception type and location)
    ``repeat_failures`` times in the active version; confidence below
    ``confidence_threshold`` after at least ``min_calls`` calls, some of them
    failed (anomalies alone lower it too, but do not trigger through it); a
    median latency over the last ``latency_window`` calls above both ``latency_factor`` times and
    ``latency_floor_ms`` more than the median of the version's first
    ``latency_window`` calls (``latency_factor`` 0: never); a forecast that
    a tool metric will cross its threshold in the bad direction; an anomaly of
    score ``anomaly_score`` or more in the bad direction on one of
    ``anomaly_metrics`` (comma-separated; a latency anomaly alone is left out by
    default: one slow sample is as often a busy machine as a slow tool, and it
    still lowers the confidence as evidence). Metric-based triggers
    (forecasts, anomalies) are ignored for ``settle_seconds`` after a version
    becomes active, since they still describe the version before it.

    Never a flood: one open request per module; after a failed attempt (the
    patch was rejected, rolled back, or none could be made) the module waits
    ``backoff_seconds`` doubling per consecutive failure up to
    ``backoff_max_seconds``; at most ``max_requests_per_hour`` requests in any
    hour across all tools; nothing at all in the first ``warmup_seconds`` after
    the engine starts (it observes first). ``observe_only`` keeps the health
    model and its status but never requests anything; ``enabled`` false leaves
    metacognition out of the engine. Invalid values raise :class:`ConfigError` at construction.
    """

    enabled: bool = True
    observe_only: bool = False
    alpha: float = 0.1
    confidence_threshold: float = 0.6
    min_calls: int = 5
    repeat_failures: int = 3
    anomaly_score: float = 0.7
    anomaly_weight: float = 0.5
    anomaly_memory_seconds: float = 300.0
    forecast_triggers: bool = True
    anomaly_triggers: bool = True
    anomaly_metrics: str = "tool.error_rate,tool.confidence"
    settle_seconds: float = 10.0
    backoff_seconds: float = 120.0
    backoff_max_seconds: float = 3600.0
    max_requests_per_hour: int = 6
    evidence_size: int = 5
    latency_factor: float = 5.0
    latency_floor_ms: float = 5.0
    latency_window: int = 20
    warmup_seconds: float = 20.0

    @property
    def anomaly_metric_names(self) -> frozenset[str]:
        return frozenset(n.strip() for n in self.anomaly_metrics.split(",") if n.strip())

    def __post_init__(self) -> None:
        for key in ("alpha", "confidence_threshold", "anomaly_score", "anomaly_weight"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"heal.{key}: must be between 0 and 1, got {value!r}")
        if self.repeat_failures < 1:
            raise ConfigError("heal.repeat_failures: must be at least 1")
        if not 5 <= self.latency_window <= 50:
            raise ConfigError("heal.latency_window: must be between 5 and 50 calls")
        if self.evidence_size < 1:
            raise ConfigError("heal.evidence_size: must be at least 1")
        if self.backoff_max_seconds < self.backoff_seconds:
            raise ConfigError("heal.backoff_max_seconds: must not be below heal.backoff_seconds")
