"""Numeric helpers for dashboards: ratios, means, medians and percentages."""

from __future__ import annotations

from chimera_engine.tooling import tool


@tool(name="ratio", description="a divided by b")
def ratio(a: float, b: float) -> float:
    return a / b


@tool(name="mean", description="Arithmetic mean of the values")
def mean(values: list[float]) -> float:
    return sum(values) / len(values)


@tool(name="median", description="Middle value of the values")
def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


@tool(name="percent", description="part as a percentage of whole, rounded")
def percent(part: float, whole: float, digits: int = 1) -> float:
    return round(part / whole * 100, digits)
