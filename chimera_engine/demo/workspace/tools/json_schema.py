"""Validate a JSON document against a schema (the common subset of JSON Schema).

Schemas are prepared once (``type`` as a list of names, nested schemas
prepared too) and kept by their JSON text, since callers check many
documents against the same few schemas.
"""

from __future__ import annotations

import json
from typing import Any

from chimera_engine.tooling import tool

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(name, (object,)))


# Prepared schemas by their JSON text (sorted keys).
_PREPARED: dict[str, dict[str, Any]] = {}


def _prepare(schema: dict[str, Any]) -> dict[str, Any]:
    prepared = dict(schema)
    expected = schema.get("type")
    if expected is not None:
        prepared["type"] = list(expected) if isinstance(expected, list) else [expected]
    if isinstance(schema.get("properties"), dict):
        prepared["properties"] = {
            key: _prepare(sub) for key, sub in schema["properties"].items() if isinstance(sub, dict)
        }
    if isinstance(schema.get("items"), dict):
        prepared["items"] = _prepare(schema["items"])
    return prepared


def _prepared(schema: dict[str, Any]) -> dict[str, Any]:
    key = json.dumps(schema, sort_keys=True)
    found = _PREPARED.get(key)
    if found is None:
        found = _PREPARED[key] = _prepare(schema)
    return found


def _check(value: Any, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    names = schema.get("type")
    if names is not None and not any(_is(value, n) for n in names):
        errors.append(f"{path}: expected {' or '.join(names)}, got {type(value).__name__}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if _is(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing required property {key!r}")
        props = schema.get("properties", {})
        for key, item in value.items():
            if key in props:
                _check(item, props[key], f"{path}.{key}", errors)
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected property {key!r}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            _check(item, schema["items"], f"{path}[{i}]", errors)


@tool(name="validate_json", description="Check a JSON document against a schema; list every error")
def validate_json(document: str, schema: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(document)
    except json.JSONDecodeError as exc:
        return {"valid": False, "errors": [f"$: not JSON ({exc.msg} at line {exc.lineno})"]}
    errors: list[str] = []
    _check(value, _prepared(schema), "$", errors)
    return {"valid": not errors, "errors": errors}
