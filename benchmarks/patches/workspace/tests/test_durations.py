from __future__ import annotations

from tools.durations import format_duration, parse_duration


def test_parse_hours_and_minutes() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration(" 2D ") == 172800


def test_format() -> None:
    assert format_duration(5400) == "1h30m"
    assert format_duration(3660) == "1h1m"
