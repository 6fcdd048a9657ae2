"""Asking the configured code-generation provider for a plan (plain language the rules
cannot read). The answer is only a proposal: it is compiled like any structured
request, so an unknown tool, a wrong input or a cycle is refused all the same."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chimera_engine.intent.plan import IntentError
from chimera_engine.modules.models import ToolVersion
from chimera_engine.patches.providers.base import Completion, CompletionRequest, Provider

SYSTEM = (
    "You turn an operator's request into a JSON plan for a tool runtime. Use only the "
    "tools listed, with their exact input names. Answer with one JSON object and nothing else."
)

FORMS = """Two plan shapes are accepted.
1. A pipeline: {"tool": T, "inputs": {...}, "over": {"param": P, "files": "folder/*.ext"}
   or {"param": P, "items": [...]}, "then": [{"tool": T2, "param": P2, "inputs": {...}}],
   "summary": {"tool": T3, "param": P3, "inputs": {...}}}. "over" runs T once per file or
   item; each "then" stage runs once per previous result, receiving it as P2; "summary"
   receives all last results as one list.
2. Steps: {"steps": [{"id": "a", "tool": T, "inputs": {...}, "depends_on": []},
   {"id": "b", "tool": T2, "inputs": {"x": {"$ref": "a"}}}]}.
An input {"$file": "path/in/workspace"} is read from the workspace."""


def plan_prompt(request: str, tools: Mapping[str, ToolVersion]) -> str:
    listed = "\n".join(
        f"- {name}{tv.signature}: {tv.description}" for name, tv in sorted(tools.items())
    )
    return f"Tools:\n{listed}\n\n{FORMS}\n\nRequest: {request}\n\nThe JSON plan:"


def parse_plan(text: str) -> dict[str, Any]:
    """The JSON object in a model's answer (code fences and prose around it ignored).

    >>> parse_plan('Here: ```json\\n{"tool": "clean_csv"}\\n```')
    {'tool': 'clean_csv'}
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise IntentError("the model's answer holds no JSON plan")
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise IntentError(f"the model's plan is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise IntentError("the model's plan is not a JSON object")
    return value


async def ask_for_plan(
    provider: Provider,
    request: str,
    tools: Mapping[str, ToolVersion],
    *,
    timeout: float = 60.0,
    max_tokens: int = 2000,
) -> tuple[dict[str, Any], Completion]:
    """The model's plan for ``request`` (unchecked) and the completion it came in."""
    completion = await provider.complete(
        CompletionRequest(
            system=SYSTEM,
            prompt=plan_prompt(request, tools),
            max_tokens=max_tokens,
            timeout=timeout,
        )
    )
    if completion.truncated:
        raise IntentError("the model's plan was cut off; nothing was planned")
    return parse_plan(completion.text), completion
