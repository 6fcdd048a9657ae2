"""Dashboard panel: metrics, anomalies and predictions."""
