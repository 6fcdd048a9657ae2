from __future__ import annotations

from tools.json_schema import validate_json

SCHEMA = {
    "type": "object",
    "required": ["id", "tags"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "maxLength": 5},
        "tags": {"type": "array", "items": {"type": "string"}},
        "state": {"enum": ["new", "done"]},
    },
}


def test_valid_document() -> None:
    assert validate_json('{"id": 3, "tags": ["a"], "state": "new"}', SCHEMA) == {
        "valid": True,
        "errors": [],
    }


def test_every_error_is_listed() -> None:
    result = validate_json('{"id": 0, "name": "toolong", "tags": [1], "extra": true}', SCHEMA)
    assert not result["valid"]
    assert result["errors"] == [
        "$.id: 0 is below the minimum 1",
        "$.name: longer than 5 characters",
        "$.tags[0]: expected string, got int",
        "$: unexpected property 'extra'",
    ]


def test_not_json_and_booleans_are_not_integers() -> None:
    assert validate_json("{nope", SCHEMA)["errors"][0].startswith("$: not JSON")
    assert not validate_json('{"id": true, "tags": []}', SCHEMA)["valid"]


def test_the_same_schema_validates_many_documents() -> None:
    for n in range(1, 4):
        assert validate_json(f'{{"id": {n}, "tags": []}}', SCHEMA)["valid"]
    assert validate_json('{"tags": []}', {"type": ["object", "null"], "required": ["id"]})[
        "errors"
    ] == ["$: missing required property 'id'"]
