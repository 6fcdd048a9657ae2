from __future__ import annotations

from tools.mathy import mean, median, percent, ratio


def test_ratio() -> None:
    assert ratio(6, 3) == 2
    assert ratio(1, 4) == 0.25


def test_mean() -> None:
    assert mean([1, 2, 3]) == 2
    assert mean([2.5]) == 2.5


def test_median_of_odd_count() -> None:
    assert median([3, 1, 2]) == 2


def test_percent() -> None:
    assert percent(1, 4) == 25.0
    assert percent(1, 3, digits=2) == 33.33
