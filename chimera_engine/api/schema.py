"""Request-body schemas (a small JSON Schema subset) and their validation.

One schema per route serves both validation and the OpenAPI document, so the
two cannot drift apart. Unknown fields, wrong types and missing required
fields are refused with a message naming the field.
"""

from __future__ import annotations

from typing import Any

from chimera_engine.errors import ValidationError

Schema = dict[str, Any]

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
SHORT: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
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
