"""A workspace: a folder with ``tools/`` (tool modules) and ``tests/`` (their pytest tests).

Tool modules import each other relatively (``from .common import helper``);
the engine gives every workspace its own package name so two workspaces (or
a workspace and an installed package) never collide in ``sys.modules``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
from importlib import resources
from pathlib import Path
from types import ModuleType

from chimera_engine.errors import ValidationError

MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
#: Names that are identifiers but are made by tools, not people: temporary files
#: (``tmpk3j9x_2a.py`` as Python's tempfile and mktemp name them) and copies or
#: backups (``common_copy.py``, ``common_copy2.py``, ``common_bak.py``, ``common_old.py``).
NOT_A_MODULE = re.compile(
    r"^(tmp(?=[A-Za-z0-9_]*[0-9])(?=[A-Za-z0-9_]*[A-Za-z])[A-Za-z0-9_]{6,10}"
    r"|.+_(copy|copy_?[0-9]+|bak|backup|old|orig|tmp|swp))$"
)


def is_module_name(stem: str) -> bool:
    """Whether a file stem in ``tools/`` is a tool module (see the README's list)."""
    return (
        bool(MODULE_NAME.match(stem)) and not stem.startswith("_") and not NOT_A_MODULE.match(stem)
    )


def validate_module_name(name: str) -> str:
    """Refuse anything that is not a plain module name (no paths, no dots)."""
    if not MODULE_NAME.match(name) or name.startswith("__"):
        raise ValidationError(f"{name!r} is not a valid tool module name")
    return name


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.tools_dir = self.root / "tools"
        self.tests_dir = self.root / "tests"
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:10]
        self.key = str(self.root)
        self.package = f"chimera_ws_{digest}.tools"

    def module_path(self, name: str) -> Path:
        return self.tools_dir / f"{validate_module_name(name)}.py"

    def module_for_path(self, path: Path | str) -> str | None:
        """The module a file path belongs to, or None for files that are not tool modules."""
        p = Path(path)
        if p.parent.resolve() != self.tools_dir or p.suffix != ".py":
            return None
        name = p.stem
        return name if is_module_name(name) else None

    def discover(self) -> list[str]:
        if not self.tools_dir.is_dir():
            return []
        return sorted(
            name
            for p in self.tools_dir.glob("*.py")
            if (name := self.module_for_path(p)) is not None
        )

    def read_source(self, name: str) -> str:
        return self.module_path(name).read_text(encoding="utf-8")

    def write_source(self, name: str, source: str) -> None:
        """Replace a module's file atomically (write a temporary file, then rename)."""
        target = self.module_path(name)
        fd, tmp = tempfile.mkstemp(dir=self.tools_dir, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(source)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def register_packages(self) -> None:
        """Put the workspace's (empty) parent packages in ``sys.modules``."""
        top, _, _ = self.package.partition(".")
        for name in (top, self.package):
            if name not in sys.modules:
                pkg = ModuleType(name)
                pkg.__path__ = []
                pkg.__package__ = name
                sys.modules[name] = pkg

    def unregister_packages(self) -> None:
        top = self.package.partition(".")[0]
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]


def seed_demo_workspace(target: Path) -> Path:
    """Copy the bundled demo workspace to ``target`` unless it already exists."""
    if (target / "tools").is_dir():
        return target
    source = resources.files("chimera_engine.demo").joinpath("workspace")
    with resources.as_file(source) as src:
        shutil.copytree(
            src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return target
