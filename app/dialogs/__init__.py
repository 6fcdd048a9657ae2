"""Dialogs of the CHIMERA Console."""

from __future__ import annotations
