"""Clean CSV text: tidy the header, trim cells, drop empty and duplicate rows.

Short rows are padded to the header's width; a row with more cells than the
header is refused (ValueError) rather than cut, which would lose data.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from chimera_engine.tooling import tool

from .common import snake_case


@tool(
    name="clean_csv", description="Normalise a CSV: snake_case header, trimmed cells, no empty rows"
)
def clean_csv(text: str, delimiter: str = ",", drop_duplicates: bool = True) -> dict[str, Any]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [[cell.strip() for cell in row] for row in reader]
    rows = [row for row in rows if any(row)]
    if not rows:
        return {"csv": "", "rows": 0, "dropped": 0, "columns": []}
    header = [snake_case(cell) or f"column_{i + 1}" for i, cell in enumerate(rows[0])]
    width = len(header)
    seen: set[tuple[str, ...]] = set()
    kept: list[list[str]] = []
    dropped = 0
    for number, row in enumerate(rows[1:], start=1):
        if len(row) > width:  # cutting it to the header would lose data silently
            raise ValueError(f"row {number} has {len(row)} cells but the header has {width}")
        row = (row + [""] * width)[:width]
        key = tuple(row)
        if drop_duplicates and key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(row)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    return {"csv": out.getvalue(), "rows": len(kept), "dropped": dropped, "columns": header}
