"""docs/architecture.md's feature map matches the tree: a newcomer who reads only
that page finds each feature's engine package, service, client, panel and tests."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from chimera_engine.facade import EngineFacade

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def map_rows() -> list[dict[str, str]]:
    """The rows of the page's map table, keyed by its header."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| feature |"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def paths_in(cell: str) -> list[str]:
    """The repository paths a cell names in backticks (directories end in ``/``)."""
    return [p for p in re.findall(r"`([^`]+)`", cell) if "/" in p]


def test_the_map_names_every_service_the_facade_holds() -> None:
    rows = map_rows()
    named = {attr for row in rows for attr in re.findall(r"`facade\.(\w+)`", row["facade service"])}
    held = set(typing.get_type_hints(EngineFacade))
    assert held == named, (
        f"held but not in the map: {held - named}; in the map only: {named - held}"
    )


def test_every_path_the_map_names_exists() -> None:
    missing = []
    for row in map_rows():
        for column in ("engine package", "panel package", "tests", "GUI client"):
            for path in paths_in(row[column]):
                if not (ROOT / path).exists():
                    missing.append(f"{row['feature']}: {column} {path}")
        service = re.search(r"`(\w+Service)`", row["facade service"])
        if service is not None:
            named = re.findall(r"([\w/]+\.py)", row["facade service"])
            files = [ROOT / "chimera_engine" / p for p in named]
            files = files or [ROOT / "chimera_engine" / row["feature"] / "service.py"]
            if not any(f"class {service.group(1)}" in f.read_text() for f in files if f.exists()):
                missing.append(f"{row['feature']}: class {service.group(1)} in {files}")
    assert not missing, missing


def test_each_panel_and_tests_folder_is_in_the_map() -> None:
    rows = map_rows()
    panels = {p for row in rows for p in paths_in(row["panel package"])}
    tests = {p for row in rows for p in paths_in(row["tests"])}
    on_disk = {
        f"app/panels/{d.name}/" for d in (ROOT / "app" / "panels").iterdir() if d.is_dir()
    } - {"app/panels/__pycache__/"}
    assert on_disk <= panels, f"panels missing from the map: {on_disk - panels}"
    features = {row["feature"] for row in rows}
    for folder in (ROOT / "tests").iterdir():
        if folder.is_dir() and folder.name in features:
            assert any(t.startswith(f"tests/{folder.name}/") for t in tests), folder.name
