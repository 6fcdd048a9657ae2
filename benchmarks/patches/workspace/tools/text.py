"""Text helpers: URL slugs, initials, truncation and word counts."""

from __future__ import annotations

from chimera_engine.tooling import tool


@tool(name="slugify", description="Lower-case, separator-joined slug for URLs")
def slugify(text: str, separator: str = "-") -> str:
    words = text.lower().split()
    return separator.join(words)


@tool(name="initials", description="Initials of a full name: 'Ada Lovelace' -> 'AL'")
def initials(name: str) -> str:
    return "".join(part[0].upper() for part in name.strip().split(" "))


@tool(name="truncate", description="Shorten text to at most width characters")
def truncate(text: str, width: int = 20, ellipsis: str = "...") -> str:
    if len(text) < width:
        return text
    return text[:width] + ellipsis


@tool(name="word_count", description="Number of words in the text")
def word_count(text: str) -> int:
    return len(text.split(" "))
