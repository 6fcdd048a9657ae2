"""CHIMERA engine: the headless core of CHIMERA Console.

The engine never imports Qt. The GUI (``app``) talks to it through
:class:`chimera_engine.node.HeartNode` and the authorised facade.
"""

from __future__ import annotations

__version__ = "0.1.0"
