"""Audit panel: the tamper-evident log, its filters and verification."""
