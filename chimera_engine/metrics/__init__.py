"""Metrics of the engine and of the workspace it runs."""

from __future__ import annotations
