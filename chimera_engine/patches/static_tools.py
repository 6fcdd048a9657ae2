"""The tools a module declares, read by the parent from its syntax tree.

The sandbox also loads the old and new module and compares their tools, but
that comparison runs in a process where the patched module's code has run
and could have altered it. This reading runs no code of the patch: it finds
top-level functions decorated with ``@tool(...)`` and rebuilds each one's
parameter list with every default replaced by ``None`` and no annotations,
so :func:`chimera_engine.tooling.incompatibility` can compare them.
"""

from __future__ import annotations

import ast
import copy
import inspect

from chimera_engine.tooling import incompatibility


def _decorator_name(node: ast.expr) -> str:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return ""


def _tool_name(decorator: ast.expr, function: str) -> str | None:
    """The tool's name (``None`` when it is not a literal, so unknown here)."""
    if not isinstance(decorator, ast.Call):
        return function
    given: ast.expr | None = decorator.args[0] if decorator.args else None
    for keyword in decorator.keywords:
        if keyword.arg == "name":
            given = keyword.value
    if given is None or (isinstance(given, ast.Constant) and given.value is None):
        return function
    if isinstance(given, ast.Constant) and isinstance(given.value, str):
        return given.value
    return None


def _signature(function: ast.FunctionDef | ast.AsyncFunctionDef) -> inspect.Signature:
    arguments = copy.deepcopy(function.args)
    none = ast.Constant(value=None)
    arguments.defaults = [none for _ in arguments.defaults]
    arguments.kw_defaults = [None if d is None else none for d in arguments.kw_defaults]
    for arg in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs):
        arg.annotation = None
    for extra in (arguments.vararg, arguments.kwarg):
        if extra is not None:
            extra.annotation = None
    stub = ast.Module(
        body=[ast.FunctionDef(name="stub", args=arguments, body=[ast.Pass()], decorator_list=[])],
        type_ignores=[],
    )
    namespace: dict[str, object] = {}
    exec(compile(ast.fix_missing_locations(stub), "<signature>", "exec"), namespace)
    return inspect.signature(namespace["stub"])  # type: ignore[arg-type]


def declared_tools(source: str) -> dict[str, inspect.Signature]:
    """``{tool name: signature}`` for the literal ``@tool`` declarations in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    tools: dict[str, inspect.Signature] = {}
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if _decorator_name(decorator) == "tool":
                name = _tool_name(decorator, node.name)
                if name is not None:
                    tools[name] = _signature(node)
    return tools


def tool_problem(old_source: str, new_source: str) -> str:
    """Why the new source breaks a tool of the old one, as read from both ("" if not).

    >>> old = "@tool(name='ratio')\\ndef ratio(a, b=1): ..."
    >>> tool_problem(old, "@tool(name='ratio')\\ndef ratio(a, b=2, c=0): ...")
    ''
    >>> tool_problem(old, "@tool(name='divide')\\ndef ratio(a, b=1): ...")
    "tool 'ratio' disappeared"
    >>> tool_problem(old, "@tool(name='ratio')\\ndef ratio(a, b): ...")
    "tool 'ratio' changed its signature: parameter 'b' lost its default"
    """
    old, new = declared_tools(old_source), declared_tools(new_source)
    for name, signature in old.items():
        if name not in new:
            return f"tool {name!r} disappeared"
        problem = incompatibility(signature, new[name])
        if problem:
            return f"tool {name!r} changed its signature: {problem}"
    return ""
