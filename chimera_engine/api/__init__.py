"""The HTTP + WebSocket API: aiohttp on the engine's own loop, over the authorised facade."""

from __future__ import annotations
