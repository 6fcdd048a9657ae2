"""The patched module's own process in the *trusted* phase.

``python -I -m chimera_engine.patches.module_server ROOT MODULE``

Started by the trusted test process (:mod:`chimera_engine.patches.module_proxy`)
inside the same sandbox. It imports the patched module from ``ROOT`` and
answers one JSON request per line on stdin with one line on stdout:

- ``{"op": "get", "name": N}``: the attribute's value, or that it is a
  function (``"call"``, ``"async"``) or an exception class;
- ``{"op": "call", "name": N, "args": [...], "kwargs": {...}}``: the result
  (a coroutine is run to its end here) or the exception raised;
- ``{"op": "names"}``: the module's public names.

Whatever the patched module does in here, it holds no handle on the trusted
process's report to the parent: only its answers cross, as plain data.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import sys
from typing import Any

from chimera_engine.patches.crossing import CrossingError, decode, dumps, encode


def _describe(value: Any) -> dict[str, Any]:
    if isinstance(value, type) and issubclass(value, BaseException):
        return {"exception": value.__name__}
    if inspect.iscoroutinefunction(value):
        return {"call": True, "async": True}
    if callable(value):
        return {"call": True, "async": False}
    return {"value": encode(value)}


def _answer(module: Any, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "names":
        return {"value": [n for n in dir(module) if not n.startswith("__")]}
    name = str(request.get("name", ""))
    if not hasattr(module, name):
        return {"missing": True}
    target = getattr(module, name)
    if op == "get":
        return _describe(target)
    if op != "call":
        return {"error": encode(ValueError(f"unknown request {op!r}"))}
    try:
        args = decode(request.get("args", []))
        kwargs = decode(request.get("kwargs", {"$d": []}))
        result = target(*args, **kwargs)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        return {"value": encode(result)}
    except CrossingError as exc:
        return {"error": encode(TypeError(str(exc)))}
    except Exception as exc:  # the tool's exception is the answer
        return {"error": encode(exc)}


def main() -> int:
    root, name = sys.argv[1], sys.argv[2]
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # what the module prints goes nowhere
    sys.path.insert(0, root)
    sys.dont_write_bytecode = True
    try:
        module = importlib.import_module(name)
    except BaseException as exc:  # reported to the trusted side
        replies.write(dumps({"loaded": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    replies.write(dumps({"loaded": True}))
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
        except ValueError:
            return 2
        replies.write(dumps(_answer(module, request)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
