"""Request-body schemas (a small JSON Schema subset) and their validation.

One schema per route serves both validation and the OpenAPI document, so the
two cannot drift apart. Unknown fields, wrong types and missing required
fields are refused with a message naming the field.
"""

from __future__ import annotations

import json
from typing import Any

from chimera_engine.errors import ValidationError
from chimera_engine.security.names import NAME_PATTERN, check_name

Schema = dict[str, Any]

MAX_DEPTH = 32


def parse_json(raw: bytes | str) -> object:
    """Decode a request body or message: strict JSON only (no ``NaN``/``Infinity``),
    nested at most :data:`MAX_DEPTH` levels; anything else is a :class:`ValidationError`.

    >>> parse_json(b'{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> parse_json("[NaN]")
    Traceback (most recent call last):
    ...
    chimera_engine.errors.ValidationError: body is not valid JSON: NaN is not a number
    """

    def constant(name: str) -> object:
        raise ValidationError(f"body is not valid JSON: {name} is not a number")

    try:
        value = json.loads(raw, parse_constant=constant)
    except RecursionError:
        raise ValidationError(f"body is nested deeper than {MAX_DEPTH} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise ValidationError(f"body is not valid JSON: {msg}") from None
    if _depth(value) > MAX_DEPTH:
        raise ValidationError(f"body is nested deeper than {MAX_DEPTH} levels")
    return value


def _depth(value: object) -> int:
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = list(item)
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def obj(
    required: dict[str, Schema] | None = None,
    optional: dict[str, Schema] | None = None,
    *,
    extra: bool = False,
) -> Schema:
    """An object schema with required and optional properties.

    >>> validate({"a": 1}, obj({"a": INT}))
    {'a': 1}
    >>> validate({"a": 1, "b": 2}, obj({"a": INT}))
    Traceback (most recent call last):
    ...
    chimera_engine.errors.ValidationError: body: unknown field 'b'
    """
    props = {**(required or {}), **(optional or {})}
    return {
        "type": "object",
        "properties": props,
        "required": sorted(required or {}),
        "additionalProperties": extra,
    }


STRING: Schema = {"type": "string", "maxLength": 10_000}
SHORT: Schema = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": NAME_PATTERN}
INT: Schema = {"type": "integer"}
NUMBER: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
STRINGS: Schema = {"type": "array", "items": SHORT, "maxItems": 100}


def _check(value: Any, schema: Schema, path: str) -> None:
    kind = schema.get("type")
    if kind is not None:
        ok = isinstance(value, _TYPES[kind]) and not (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            raise ValidationError(f"{path}: expected {kind}, got {type(value).__name__}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise ValidationError(f"{path}: must not be empty")
        if len(value) > schema.get("maxLength", 1_000_000):
            raise ValidationError(f"{path}: longer than {schema['maxLength']} characters")
        if schema.get("pattern") == NAME_PATTERN:
            check_name(value, path)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ValidationError(f"{path}: must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ValidationError(f"{path}: must be at most {schema['maximum']}")
    if "enum" in schema and value not in schema["enum"]:
        raise ValidationError(f"{path}: must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, list):
        if len(value) > schema.get("maxItems", 10_000):
            raise ValidationError(f"{path}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), f"{path}[{i}]")
    if isinstance(value, dict) and kind == "object":
        props: dict[str, Schema] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise ValidationError(f"{path}: missing field {name!r}")
        for name, item in value.items():
            if name in props:
                _check(item, props[name], f"{path}.{name}" if path != "body" else name)
            elif not schema.get("additionalProperties", False):
                raise ValidationError(f"{path}: unknown field {name!r}")


def validate(value: Any, schema: Schema) -> dict[str, Any]:
    """Check a decoded JSON body against ``schema``; returns it (as a dict) if valid."""
    _check(value, schema, "body")
    if not isinstance(value, dict):
        raise ValidationError("body: expected a JSON object")
    return value
