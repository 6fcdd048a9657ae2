"""Helpers shared by the demo tools (no tools here)."""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(text: str) -> str:
    """'Customer ID ' -> 'customer_id'."""
    return _NON_WORD.sub("_", text.strip()).strip("_").lower()
