"""Anomaly detection: detectors (one per module), the live ensemble, forecasting, the bank.

Public entry points:

- :class:`~chimera_engine.anomaly.engine.AnomalyDetectionEngine` - per-metric live detection,
  forecasts and predictive alerts.
- :class:`~chimera_engine.anomaly.bank.DetectorBank` - the same ensemble, vectorised over
  thousands of metrics; the engine scores the metrics of large batches (scrapes,
  pushed batches) in one (``observe_many``).
- :mod:`~chimera_engine.anomaly.csvtool` - ``chimera detect`` over CSV files.
"""

from __future__ import annotations
