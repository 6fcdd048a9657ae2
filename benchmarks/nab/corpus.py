"""Load the NAB development subset: series, timestamps and labelled windows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

DEFAULT_ROOT = Path(__file__).resolve().parents[3] / "shared" / "nab"


@dataclass(frozen=True)
class NabFile:
    """One labelled series: ``name`` is ``category/file.csv``; times in epoch seconds."""

    name: str
    timestamps: np.ndarray
    values: np.ndarray
    windows: list[tuple[float, float]]

    @property
    def category(self) -> str:
        return self.name.split("/", 1)[0]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC).timestamp()


def load_corpus(root: Path = DEFAULT_ROOT) -> list[NabFile]:
    """Every CSV under ``root/data`` with its windows from ``combined_windows.json``."""
    windows = json.loads((root / "combined_windows.json").read_text())
    out: list[NabFile] = []
    for path in sorted((root / "data").rglob("*.csv")):
        name = path.relative_to(root / "data").as_posix()
        lines = path.read_text().splitlines()[1:]
        ts = np.empty(len(lines))
        vs = np.empty(len(lines))
        for i, line in enumerate(lines):
            t, v = line.split(",")
            ts[i] = _epoch(t)
            vs[i] = float(v)
        spans = [(_epoch(a), _epoch(b)) for a, b in windows.get(name, [])]
        out.append(NabFile(name, ts, vs, spans))
    return out
