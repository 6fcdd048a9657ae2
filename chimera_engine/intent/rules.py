"""Plain-language requests read by rules, for the common verbs over the demo tools.

>>> form = read_request("clean every CSV in inbox/ and validate it against schema orders")
>>> form["tool"], form["over"], [s["tool"] for s in form["then"]], form["summary"]["tool"]
('clean_csv', {'param': 'text', 'files': 'inbox/*.csv'}, ['validate_json'], 'validate_json')

The verbs: *clean* CSV files (``clean_csv``), *parse* logs (``parse_log``),
*validate* JSON documents against a schema (``validate_json``) and *check* URLs
(``check_http``). A source is "every/each/all <kind> in <folder>", file names,
or URLs; "and validate it against schema S" adds a validation of each result,
and a run over several inputs that ends in a validation gets a summary saying
whether every one is valid. :func:`read_request` returns a pipeline form for
:class:`~chimera_engine.intent.compiler.IntentCompiler`, or None when no rule
applies.
"""

from __future__ import annotations

import re
from typing import Any

VERBS: dict[str, tuple[str, str, str]] = {
    # verb -> (tool, the input receiving each item, the file kind it reads)
    "clean": ("clean_csv", "text", "csv"),
    "parse": ("parse_log", "text", "log"),
    "validate": ("validate_json", "document", "json"),
    "check": ("check_http", "url", ""),
}
KINDS = {"csv": "csv", "csvs": "csv", "log": "log", "logs": "log", "json": "json"}
ALL_VALID: dict[str, Any] = {
    "type": "array",
    "items": {"type": "object", "properties": {"valid": {"enum": [True]}}},
}

_VERB = re.compile(r"\b(clean|parse|validate|check)\b", re.I)
_EVERY = re.compile(
    r"\b(?:every|each|all(?: the)?)\s+(?P<kind>csvs?|logs?|json)\b[\w ]*?"
    r"\s(?:in|under|from)\s+(?P<dir>[\w./-]+)",
    re.I,
)
_FILES = re.compile(r"(?<![\w/.-])(?P<path>[\w./-]+\.(?P<ext>csv|log|json))\b", re.I)
_URL = re.compile(r"https?://[^\s,;]+", re.I)
_AGAINST = re.compile(r"\bagainst\s+(?:the\s+)?(?:schema\s+)?(?P<schema>[\w./-]+)", re.I)
_THEN_VALIDATE = re.compile(r"\b(?:and|then)\s+(?:then\s+)?validate\b", re.I)


def read_request(text: str) -> dict[str, Any] | None:
    """A pipeline form for ``text``, or None when no rule applies."""
    verb_match = _VERB.search(text)
    if verb_match is None:
        return None
    verb = verb_match.group(1).lower()
    tool, param, kind = VERBS[verb]
    over = _source(text, kind)
    if verb == "check" and over is None:
        tool, param, kind = VERBS["validate"]  # "check data/ against schema S"
        over = _source(text, kind)
    if over is None:
        return None
    over = {"param": param, **over}
    form: dict[str, Any] = {"tool": tool, "over": over}
    schema = _AGAINST.search(text)
    if tool == "validate_json":
        if schema is None:
            return None
        form["inputs"] = {"schema": {"$file": schema.group("schema")}}
    elif _THEN_VALIDATE.search(text[verb_match.end() :]) and schema is not None:
        form["then"] = [
            {
                "tool": "validate_json",
                "param": "document",
                "inputs": {"schema": {"$file": schema.group("schema")}},
            }
        ]
    ends_in_validation = tool == "validate_json" or "then" in form
    if ends_in_validation and _many(over):
        form["summary"] = {
            "tool": "validate_json",
            "param": "document",
            "inputs": {"schema": ALL_VALID},
        }
    return form


def _source(text: str, kind: str) -> dict[str, Any] | None:
    if kind == "":
        urls = [u.rstrip(".)") for u in _URL.findall(text)]
        return {"items": urls} if urls else None
    every = _EVERY.search(text)
    if every is not None and KINDS[every.group("kind").lower()] == kind:
        folder = every.group("dir").rstrip("/") or "."
        return {"files": f"{folder}/*.{kind}"}
    schema = _AGAINST.search(text)
    named = [
        m.group("path")
        for m in _FILES.finditer(text)
        if m.group("ext").lower() == kind and not (schema and m.start() >= schema.start("schema"))
    ]
    if len(named) == 1:
        return {"files": named[0]}
    return {"files": list(dict.fromkeys(named))} if named else None


def _many(over: dict[str, Any]) -> bool:
    files = over.get("files", "")
    many_files = len(files) > 1 if isinstance(files, list) else "*" in files
    return len(over.get("items", ())) > 1 or many_files
