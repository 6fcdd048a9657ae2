"""Counts in words: "1 patch", "2 patches"."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, the noun in the plural unless ``n`` is 1.

    >>> count(1, "patch", "patches"), count(0, "task"), count(3, "version")
    ('1 patch', '0 tasks', '3 versions')
    """
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
