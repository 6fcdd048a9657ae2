"""The demo workspace shipped with the console (copied to the data dir on first run)."""

from __future__ import annotations
