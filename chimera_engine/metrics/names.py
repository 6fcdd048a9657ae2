"""Structured metric identities and their Prometheus spelling.

The hub keys a series by a string, ``name{a=1,b=2}`` (see
:func:`~chimera_engine.metrics.hub.metric_key`), which the anomaly engine, the
charts and the stored anomalies use. Beside it the hub keeps a :class:`SeriesId`:
the name and the labels as they came in, so the exposition never parses a key.

Prometheus names allow ``[a-zA-Z_:][a-zA-Z0-9_:]*`` and label names
``[a-zA-Z_][a-zA-Z0-9_]*`` (``__`` prefixes are reserved): anything else becomes
``_``.

>>> prometheus_name("queue.depth-ms")
'queue_depth_ms'
>>> prometheus_name("9lives")
'_9lives'
>>> label_name("__name__"), label_name("host name")
('_name__', 'host_name')
>>> SeriesId.of("tool.calls", {"tool": "t", "a": "1"}).labels
(('a', '1'), ('tool', 't'))
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_BAD_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_BAD_LABEL = re.compile(r"[^a-zA-Z0-9_]")

#: How the exporter writes a series: (family, type, sample line prefix, scale to the
#: base unit, (metric name, tool) it is grouped under for the anomaly score).
Expo = tuple[str, str, str, float, tuple[str, str]]

#: Where a series comes from: the engine's collectors, a client's push, a scrape.
ORIGINS = ("engine", "push", "scrape")

#: Suffixes the exposition formats give to counter, histogram and summary samples.
_RESERVED_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum", "_info", "_gcount")


@dataclass(frozen=True, slots=True)
class SeriesId:
    """A series' name and its labels, sorted by label name."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, name: str, labels: Mapping[str, str] | None = None) -> SeriesId:
        return cls(name, tuple(sorted((labels or {}).items())))

    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


def prometheus_name(name: str) -> str:
    """``name`` with every character Prometheus refuses replaced by ``_``."""
    out = _BAD_NAME.sub("_", name)
    return "_" + out if out[:1].isdigit() else out


def label_name(name: str) -> str:
    """A valid, non-reserved Prometheus label name for ``name``."""
    out = _BAD_LABEL.sub("_", name) or "_"
    if out[:1].isdigit():
        out = "_" + out
    while out.startswith("__"):
        out = out[1:]
    return out


def base_family(name: str) -> str:
    """The family a sample name would belong to (``x_total`` -> ``x``)."""
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
