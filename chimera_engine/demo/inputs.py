"""Realistic inputs for the demo workspace's tools, normal and fault-shaped.

Every generator takes a :class:`random.Random` so a run can be repeated with
a seed. The normal inputs are what the tools handle correctly; the
fault-shaped ones are described in :mod:`chimera_engine.demo.faults`.

>>> import random
>>> text = orders_csv(random.Random(1), rows=3)
>>> text.splitlines()[0]
'Order ID,Customer,Amount,Currency'
>>> len(text.splitlines())  # the header and three orders
4
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

CUSTOMERS = (
    "Ada Lovelace",
    "Alan Turing",
    "Grace Hopper",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Frances Allen",
    "Ken Thompson",
)
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
SERVICES = ("api", "db", "cache", "auth", "billing", "search")
ERRORS = (
    "db: connection refused",
    "api: upstream timeout",
    "cache: eviction storm",
    "auth: token signature invalid",
    "billing: card declined by issuer",
    "search: index shard unavailable",
)
INFO = ("request served", "job finished", "cache warmed", "user signed in", "report sent")
WARNINGS = ("slow request", "retrying upstream call", "queue depth high", "disk 85% full")

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "customer", "amount", "currency"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "customer": {"type": "string", "minLength": 1, "maxLength": 80},
        "amount": {"type": "number", "minimum": 0},
        "currency": {"enum": list(CURRENCIES)},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["service", "level", "message"],
    "properties": {
        "service": {"enum": list(SERVICES)},
        "level": {"enum": ["INFO", "WARNING", "ERROR"]},
        "message": {"type": "string", "maxLength": 200},
        "latency_ms": {"type": ["number", "null"], "minimum": 0},
    },
}


def orders_csv(rng: random.Random, rows: int = 20) -> str:
    """A CSV export of orders: untidy header, padded cells, a blank line, a duplicate."""
    lines = ["Order ID,Customer,Amount,Currency"]
    for i in range(rows):
        amount = f"{rng.uniform(1, 500):.2f}"
        lines.append(f"{1000 + i}, {rng.choice(CUSTOMERS)} ,{amount},{rng.choice(CURRENCIES)}")
    if rows > 3:
        lines.insert(rng.randrange(2, len(lines)), "")
        lines.append(lines[1])
    return "\n".join(lines) + "\n"


def semicolon_export(rng: random.Random, rows: int = 20) -> str:
    """The same orders as a spreadsheet export in a European locale: UTF-8 BOM,
    ``;`` between cells, a decimal comma in amounts, CRLF line ends."""
    lines = ["\ufeffOrder ID;Customer;Amount;Currency"]
    for i in range(rows):
        amount = f"{rng.uniform(1, 500):.2f}".replace(".", ",")
        lines.append(f"{2000 + i};{rng.choice(CUSTOMERS)};{amount};{rng.choice(CURRENCIES)}")
    return "\r\n".join(lines) + "\r\n"


SEMICOLON_COLUMNS = ["order_id", "customer", "amount", "currency"]
"""The columns a correct ``clean_csv`` returns for :func:`semicolon_export`."""


def _log_lines(rng: random.Random, lines: int, error: Any) -> str:
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC) + timedelta(seconds=rng.randrange(36_000))
    out = []
    for i in range(lines):
        ts = (start + timedelta(seconds=i * rng.uniform(0.1, 3))).strftime("%Y-%m-%d %H:%M:%S")
        roll = rng.random()
        if roll < 0.7:
            out.append(f"{ts} INFO {rng.choice(SERVICES)}: {rng.choice(INFO)}")
        elif roll < 0.85:
            out.append(f"{ts} WARNING {rng.choice(SERVICES)}: {rng.choice(WARNINGS)}")
        else:
            out.append(f"{ts} ERROR {error()}")
    return "\n".join(out) + "\n"


def app_log(rng: random.Random, lines: int = 40) -> str:
    """An application log: mostly INFO, some WARNING, a few ERROR lines from a small,
    fixed set of messages."""
    return _log_lines(rng, lines, lambda: rng.choice(ERRORS))


def traced_log(rng: random.Random, lines: int = 40, error_share: float = 0.8) -> str:
    """A log from services that put a request id into every error message
    (``db: connection refused (request 5f0c...)``): each error line is a message
    never seen before. ``error_share`` of the lines are errors."""
    base = datetime(2026, 11, 24, 9, 0, tzinfo=UTC) + timedelta(seconds=rng.randrange(36_000))
    out = []
    for i in range(lines):
        ts = (base + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S")
        if rng.random() < error_share:
            request = uuid.UUID(int=rng.getrandbits(128))
            out.append(f"{ts} ERROR {rng.choice(ERRORS)} (request {request})")
        else:
            out.append(f"{ts} INFO {rng.choice(SERVICES)}: {rng.choice(INFO)}")
    return "\n".join(out) + "\n"


def order_document(rng: random.Random, valid: bool = True) -> str:
    doc: dict[str, Any] = {
        "id": rng.randrange(1, 100_000),
        "customer": rng.choice(CUSTOMERS),
        "amount": round(rng.uniform(1, 500), 2),
        "currency": rng.choice(CURRENCIES),
    }
    if rng.random() < 0.5:
        doc["tags"] = rng.sample(["priority", "gift", "b2b", "retry"], 2)
    if not valid:
        doc["amount"] = -doc["amount"]
        doc["currency"] = "XXX"
    return json.dumps(doc)


def event_document(rng: random.Random) -> str:
    return json.dumps(
        {
            "service": rng.choice(SERVICES),
            "level": rng.choice(["INFO", "WARNING", "ERROR"]),
            "message": rng.choice(INFO + WARNINGS),
            "latency_ms": round(rng.uniform(1, 900), 1) if rng.random() < 0.8 else None,
        }
    )


def json_check(rng: random.Random) -> dict[str, Any]:
    """Arguments for ``validate_json``: an order or an event against its schema
    (about one document in ten is invalid)."""
    if rng.random() < 0.6:
        return {"document": order_document(rng, rng.random() > 0.1), "schema": ORDER_SCHEMA}
    return {"document": event_document(rng), "schema": EVENT_SCHEMA}


def nested_document(depth: int = 5000) -> str:
    """A document nested ``depth`` arrays deep (a producer stuck in a loop)."""
    return "[" * depth + "]" * depth


def stamped_schema(rng: random.Random, fields: int = 60) -> dict[str, Any]:
    """A large schema stamped with a unique ``$id`` and generation time, as some
    producers send with every document: equal in meaning, different in text."""
    props: dict[str, Any] = {
        f"field_{i:02d}": {
            "type": ["string", "null"],
            "maxLength": 200,
            "description": f"Attribute {i} of the record, as exported by the upstream system",
        }
        for i in range(fields)
    }
    props.update(ORDER_SCHEMA["properties"])
    return {
        "$id": f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}",
        "description": f"orders export, generated {datetime.now(UTC).isoformat()}",
        "type": "object",
        "required": ORDER_SCHEMA["required"],
        "properties": props,
    }
