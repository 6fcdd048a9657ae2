"""Values crossing between the trusted test process and the patched module's process.

Plain data only, as tagged JSON: ``None``, booleans, numbers (``nan`` and the
infinities included), strings, bytes, lists, tuples, sets, dicts (any keys
that are themselves plain data) and exceptions (by the name of a built-in
type, or as :class:`RemoteError`). Decoding never runs code and never builds
anything but these types, so a hostile process can send only wrong answers,
never objects.

>>> value = {"a": (1, 2.5, None), 3: {b"x", "y"}, "n": float("inf")}
>>> decode(encode(value)) == value
True
>>> decode(encode(ValueError("bad input"))).args
('bad input',)
"""

from __future__ import annotations

import base64
import builtins
import json
import math
from typing import Any

MAX_DEPTH = 64


class CrossingError(TypeError):
    """A value that cannot cross the sandbox boundary."""


class RemoteError(Exception):
    """An exception of the patched module whose type is not a built-in one."""


def encode(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise CrossingError("value nested too deeply to cross the sandbox boundary")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$f": repr(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"$t": [encode(v, depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$s": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"$d": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if isinstance(value, BaseException):
        args = []
        for arg in value.args:
            try:
                args.append(encode(arg, depth + 1))
            except CrossingError:
                args.append(repr(arg))
        return {"$e": type(value).__name__, "args": args}
    raise CrossingError(
        f"a {type(value).__name__} cannot cross the sandbox boundary (only plain data can)"
    )


def decode(value: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise CrossingError("value nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [decode(v, depth + 1) for v in value]
    if not isinstance(value, dict) or len(value) not in (1, 2):
        raise CrossingError("malformed value from the patched module's process")
    if "$f" in value and value["$f"] in ("nan", "inf", "-inf"):
        return float(value["$f"])
    if "$b" in value:
        return base64.b64decode(str(value["$b"]), validate=True)
    if "$t" in value:
        return tuple(decode(v, depth + 1) for v in _items(value["$t"]))
    if "$s" in value:
        return {decode(v, depth + 1) for v in _items(value["$s"])}
    if "$d" in value:
        pairs = [_items(p) for p in _items(value["$d"])]
        return {decode(k, depth + 1): decode(v, depth + 1) for k, v in pairs}
    if "$e" in value:
        return _exception(str(value["$e"]), [decode(a, depth + 1) for a in _items(value["args"])])
    raise CrossingError("malformed value from the patched module's process")


def _items(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise CrossingError("malformed value from the patched module's process")
    return value


def _exception(name: str, args: list[Any]) -> BaseException:
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(*args)
        except Exception:  # a built-in refusing its args: keep the text
            return RemoteError(name, *args)
    return RemoteError(name, *args)


def dumps(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()
