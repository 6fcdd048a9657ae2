from __future__ import annotations

from tools.text import initials, slugify, truncate, word_count


def test_slugify() -> None:
    assert slugify("Hello World") == "hello-world"
    assert slugify("A  B", separator="_") == "a_b"


def test_initials() -> None:
    assert initials("Ada Lovelace") == "AL"
    assert initials(" grace hopper ") == "GH"


def test_truncate() -> None:
    assert truncate("short") == "short"
    assert truncate("hello world", 5).endswith("...")


def test_word_count() -> None:
    assert word_count("one two three") == 3
