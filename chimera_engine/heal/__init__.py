"""Metacognition: per-tool health and confidence, and preventive learning.

:class:`~chimera_engine.heal.engine.MetacognitiveEngine` follows every tool
version's calls, anomalies and forecasts, keeps a confidence in [0, 1] with its
evidence, and asks the code generator for a tested fix when a tool is failing
or forecast to fail, within the limits of the ``[heal]`` settings.
"""

from __future__ import annotations
