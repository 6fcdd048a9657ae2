"""Hot reload: versioned tool modules loaded side by side and switched atomically."""

from __future__ import annotations
