"""What a non-administrator may not read: file paths of the install, raw user names
typed into a failed login."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

from chimera_engine.store.records import AuditEntry

T = TypeVar("T")

HIDDEN = "(hidden)"
_PATH_FIELDS = ("data_dir", "database")
_TEXT_FIELDS = ("workspace", "api_error", "swarm_error")


def hide_paths(status: T, data_dir: Path, workspace: Path) -> T:
    """``status`` (a dataclass) with the install's directories blanked out of its fields."""

    def scrub(text: str) -> str:
        for root, label in ((workspace, "<workspace>"), (data_dir, "<data dir>")):
            text = text.replace(str(root), label)
        return text

    changes: dict[str, Any] = {}
    for field in dataclasses.fields(status):  # type: ignore[arg-type]
        value = getattr(status, field.name)
        if field.name in _PATH_FIELDS:
            changes[field.name] = HIDDEN
        elif field.name in _TEXT_FIELDS and isinstance(value, str):
            changes[field.name] = scrub(value)
        elif field.name == "startup_problems" and isinstance(value, tuple):
            changes[field.name] = tuple(scrub(str(v)) for v in value)
    return dataclasses.replace(status, **changes)  # type: ignore[type-var]


def hide_attempted_names(entry: AuditEntry) -> AuditEntry:
    """A refused anonymous login names what was typed, often a mistyped password:
    only administrators see it."""
    if entry.outcome != "denied" or entry.role or not entry.action.startswith("auth."):
        return entry
    return dataclasses.replace(entry, actor="anonymous", target=HIDDEN if entry.target else "")
