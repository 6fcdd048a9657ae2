"""CHIMERA Console: the PySide6 operator GUI, a thin layer over :mod:`chimera_engine`."""

from __future__ import annotations
