"""Task inputs as an operator types them: JSON checked as it is typed, and a template
of a tool's parameters to start from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Parsed:
    """``value`` when ``error`` is empty."""

    value: dict[str, Any]
    error: str = ""


def parse_inputs(text: str) -> Parsed:
    """A JSON object of inputs, or why the text is not one (with line and column).

    >>> parse_inputs('{"a": 1}').value, parse_inputs("").value
    ({'a': 1}, {})
    >>> parse_inputs("[1]").error
    'inputs must be a JSON object ({"name": value, ...}), not a list'
    >>> parse_inputs('{"a": }').error
    'line 1, column 7: Expecting value'
    >>> parse_inputs('{"a": NaN}').error
    'NaN and Infinity are not JSON values'
    """
    if not text.strip():
        return Parsed({})

    def refuse(constant: str) -> Any:
        raise ValueError("NaN and Infinity are not JSON values")

    try:
        value = json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as exc:
        return Parsed({}, f"line {exc.lineno}, column {exc.colno}: {exc.msg}")
    except ValueError as exc:
        return Parsed({}, str(exc))
    if not isinstance(value, dict):
        kind = {list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")
        if value is None:
            kind = "null"
        return Parsed({}, f'inputs must be a JSON object ({{"name": value, ...}}), not {kind}')
    return Parsed(value)


def parameter_names(signature: str) -> list[str]:
    """The parameter names of a signature as the engine describes it (``*args`` and
    ``**kwargs`` left out).

    >>> parameter_names("(a: int, b: list[int] = [1, 2], *args, c: str = 'x, y', **kw) -> int")
    ['a', 'b', 'c']
    >>> parameter_names("() -> None")
    []
    """
    start = signature.find("(")
    if start < 0:
        return []
    names: list[str] = []
    depth, quote, part = 0, "", ""
    for ch in signature[start + 1 :]:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                names.append(part)
                break
            depth -= 1
        elif ch == "," and depth == 0:
            names.append(part)
            part = ""
            continue
        part += ch
    found = []
    for raw in names:
        name = raw.strip().split(":")[0].split("=")[0].strip()
        if name and not name.startswith("*") and name.isidentifier():
            found.append(name)
    return found


def template(signature: str) -> str:
    """Inputs to start from: every parameter of ``signature`` with a null value.

    >>> print(template("(text: str, sep: str = ',') -> list[str]"))
    {
      "text": null,
      "sep": null
    }
    """
    return json.dumps(dict.fromkeys(parameter_names(signature)), indent=2)
