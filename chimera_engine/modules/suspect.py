"""Does a saved file look like a write still in progress?

A writer that saves a file in several open/write/close steps leaves it, between
two steps, holding only the first part. If that part compiles it would load and
serve. A change that looks incomplete next to the serving version therefore
waits a longer settle window before it loads (see
:class:`~chimera_engine.modules.watcher.CodeWatcher`); ordinary saves keep the
short one. The signs, each cheap to check:

* the file does not parse (it will likely be completed; if not, it is refused
  after the longer wait, as before);
* a function the serving version offers as a tool is no longer defined;
* such a function is left with an empty body (only a docstring, ``pass`` or
  ``...``) where the serving version had a real one (a write cut inside a def);
* the file lost more than half of its length;
* the serving version ended with a newline and this one does not (cut mid-line).

This is a heuristic: a first part that keeps every tool with a real body, more
than half of the length and a final newline still loads after the short window.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Iterable

from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.workspace import Workspace


async def screen(
    registry: VersionedToolRegistry, workspace: Workspace, modules: list[str]
) -> dict[str, str]:
    """Which of ``modules`` (files that changed) look like a write still in progress
    next to their serving version, and why (read and parsed off the event loop)."""
    serving = {
        name: (mv.source, [getattr(tv.fn, "__name__", "") for tv in mv.tools.values()])
        for name in modules
        if (mv := registry.active.get(name)) is not None
    }
    if not serving:
        return {}

    def check() -> dict[str, str]:
        reasons: dict[str, str] = {}
        for name, (old, functions) in serving.items():
            try:
                new = workspace.read_source(name)
            except (OSError, UnicodeDecodeError):
                continue  # gone or unreadable: the change set says so
            why = incomplete(new, old, functions)
            if why:
                reasons[name] = why
        return reasons

    return await asyncio.get_running_loop().run_in_executor(None, check)


def incomplete(new: str, old: str, tool_functions: Iterable[str]) -> str:
    """Why ``new`` looks like a partial write of a file whose serving source is
    ``old`` (whose tools are the functions named ``tool_functions``); "" if it does not."""
    try:
        tree = ast.parse(new)
    except SyntaxError as exc:
        return f"does not parse yet (line {exc.lineno})"
    except ValueError:
        return "does not parse yet (a null byte)"
    if len(new) * 2 < len(old):
        return f"shrank from {len(old)} to {len(new)} characters"
    if old.endswith("\n") and new and not new.endswith("\n"):
        return "ends in the middle of a line"
    defined = _functions(tree)
    try:
        before = _functions(ast.parse(old))
    except (SyntaxError, ValueError):
        before = {}
    for name in sorted(set(tool_functions)):
        if name not in defined:
            return f"no longer defines {name}(), which the serving version offers as a tool"
        if _empty(defined[name]) and name in before and not _empty(before[name]):
            return f"{name}() has lost its body"
    return ""


def _functions(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _empty(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Only a docstring, ``pass`` or ``...`` in the body."""
    for stmt in fn.body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring or ``...``
        return False
    return True
