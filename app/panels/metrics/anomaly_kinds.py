"""How each kind of anomaly is named and coloured, everywhere in the console."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KindStyle:
    label: str
    colour: str  # marker fill, "#rrggbb"
    description: str


KINDS: dict[str, KindStyle] = {
    "spike": KindStyle("Spike", "#d92d20", "A sudden rise far above what was expected"),
    "drop": KindStyle("Drop", "#1d63d8", "A sudden fall far below what was expected"),
    "trend_change": KindStyle(
        "Trend change", "#e08a00", "The metric's slope changed and the level followed"
    ),
    "pattern_break": KindStyle(
        "Pattern break", "#7a3fd1", "A shape the metric has not shown before"
    ),
}
UNKNOWN = KindStyle("Other", "#616e7c", "An anomaly of a kind this console does not know")


def kind_style(kind: str) -> KindStyle:
    """The style of ``kind`` (an :class:`~chimera_engine.anomaly.ensemble.AnomalyKind` value).

    >>> kind_style("trend_change").label, kind_style("nonsense").label
    ('Trend change', 'Other')
    """
    return KINDS.get(kind, UNKNOWN)
