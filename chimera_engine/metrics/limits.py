"""Limits on metric samples, importable without numpy (the hub loads before the
detectors do)."""

from __future__ import annotations

#: The largest magnitude kept: two values this far apart still differ by less than
#: float32's largest number (3.4e38), so no offset overflows.
VALUE_LIMIT = 1.0e38
