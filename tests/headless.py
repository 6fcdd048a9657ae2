"""Run pytest in a process where importing Qt, qasync, pyqtgraph or the GUI fails.

This proves the engine (and its tests) never need the GUI stack:
``python tests/headless.py -q chimera_engine tests`` (it leaves out
``tests/app/``, every ``tests/<feature>/gui/`` and ``tests/integration/``). Doctests of the
engine modules are collected too.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
BLOCKED = ("PySide6", "shiboken6", "qasync", "pyqtgraph", "app", "pytestqt")


class QtBlocker(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.split(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is blocked: the engine must run without the GUI")
        return None


def main(argv: list[str]) -> int:
    for name in list(sys.modules):
        if name.split(".")[0] in BLOCKED:
            raise SystemExit(f"{name} was imported before the blocker was installed")
    sys.meta_path.insert(0, QtBlocker())
    import pytest

    args = [
        "-p",
        "no:pytest-qt",
        "--doctest-modules",
        "--ignore=chimera_engine/demo/workspace",
        # the Qt tests: tests/app/ and every feature's gui/ folder
        f"--ignore={HERE / 'app'}",
        f"--ignore-glob={HERE}/*/gui",
        # the end-to-end scenarios run with the Qt tests (make test)
        f"--ignore={HERE / 'integration'}",
        *argv,
    ]
    return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
