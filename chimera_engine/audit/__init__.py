"""Audit: the tamper-evident log, its store, anchor and verification."""
