"""Entry point of the bundled ``chimera-console``.

Inside the bundle ``sys.executable`` is this program, not a Python interpreter,
yet the engine starts helpers as ``sys.executable [-I] -m MODULE`` (swarm
agents, the patch sandbox). This launcher therefore understands that much of
Python's command line: ``[-I|-u|-B|-E|-s|-S ...] -m MODULE ARGS`` runs the
module as ``__main__``; anything else starts the console.
"""

from __future__ import annotations

import runpy
import sys

PYTHON_FLAGS = frozenset({"-I", "-u", "-B", "-E", "-s", "-S"})


def python_module(argv: list[str]) -> tuple[str, list[str]] | None:
    """``(module, args)`` when ``argv`` asks Python to run a module, else ``None``."""
    args = argv[1:]
    while args and args[0] in PYTHON_FLAGS:
        args = args[1:]
    if len(args) >= 2 and args[0] == "-m":
        return args[1], args[2:]
    return None


def main() -> int:
    module = python_module(sys.argv)
    if module is not None:
        name, args = module
        sys.argv = [name, *args]
        runpy.run_module(name, run_name="__main__", alter_sys=True)
        return 0
    from app.main import main as console_main

    return console_main()


if __name__ == "__main__":
    sys.exit(main())
