"""Fitting a prompt and its answer into the model's context window.

Token counts are estimated from characters (code runs about 3-4 characters
a token; :func:`estimate_tokens` assumes 3, so it errs towards "does not
fit"). When the whole prompt does not leave room for an answer, the prompt
is rebuilt from only the failing function(s) and the tests that name them;
when even that does not fit, nothing is sent and the reason says how big
the context is.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass

from chimera_engine.patches.models import PatchRequest
from chimera_engine.patches.prompts import SYSTEM, build_prompt
from chimera_engine.patches.store import Pattern

#: Tokens a chat template adds around the messages (roles, separators), a generous guess.
TEMPLATE_TOKENS = 64


def estimate_tokens(text: str) -> int:
    """A conservative token count for ``text`` (3 characters a token).

    >>> estimate_tokens(""), estimate_tokens("abcdefg")
    (0, 3)
    """
    return -(-len(text) // 3)


@dataclass(frozen=True, kw_only=True)
class PromptPlan:
    """The prompt to send and the output limit that still fits, or why nothing fits."""

    prompt: str = ""
    max_tokens: int = 0
    shrunk: bool = False
    error: str = ""


def plan_prompt(
    request: PatchRequest,
    path: str,
    patterns: list[Pattern],
    feedback: list[str],
    *,
    context: int | None,
    max_tokens: int,
    min_output: int,
) -> PromptPlan:
    """The prompt and output limit for a model with ``context`` tokens (None: unknown).

    The output limit is ``max_tokens`` cut down to what the context leaves,
    but never below ``min_output`` (an answer needs room for a change and a
    test); below that the prompt is shrunk, and below that nothing fits.
    """
    prompt = build_prompt(request, path, patterns, feedback)
    if context is None:
        return PromptPlan(prompt=prompt, max_tokens=max_tokens)
    floor = min(min_output, max_tokens)
    room = context - _cost(prompt)
    if room >= floor:
        return PromptPlan(prompt=prompt, max_tokens=min(max_tokens, room))
    small = shrink_request(request)
    if small is not None:
        prompt = build_prompt(small, path, [], feedback[-2:])
        room = context - _cost(prompt)
        if room >= floor:
            return PromptPlan(prompt=prompt, max_tokens=min(max_tokens, room), shrunk=True)
    return PromptPlan(
        error=(
            f"the model's context ({context:,} tokens) is too small for this module: "
            f"the smallest prompt takes about {_cost(prompt):,} tokens and the answer needs "
            f"at least {floor:,} more; use a model with a larger context (or raise its context "
            "size on the server)"
        )
    )


def _cost(prompt: str) -> int:
    return estimate_tokens(SYSTEM) + estimate_tokens(prompt) + TEMPLATE_TOKENS


def failing_functions(request: PatchRequest) -> list[str]:
    """Top-level functions of the module named in the failures' tracebacks (in order)."""
    try:
        tree = ast.parse(request.source)
    except SyntaxError:
        return []
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    named: list[str] = []
    for failure in request.failures:
        for name in re.findall(r", in (\w+)", failure.traceback):
            if name in defined and name not in named:
                named.append(name)
    return named


def shrink_request(request: PatchRequest) -> PatchRequest | None:
    """``request`` cut to its imports, the failing function(s) and the tests that name them.

    Returns None when no failing function can be told from the evidence.
    """
    names = failing_functions(request)
    if not names:
        return None
    tree = ast.parse(request.source)
    lines = request.source.splitlines()
    kept: list[str] = []
    for node in tree.body:
        keep = isinstance(node, ast.Import | ast.ImportFrom) or (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name in names
        )
        if keep:
            start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            kept.append("\n".join(lines[start - 1 : node.end_lineno]))
    excerpt = (
        "# EXCERPT: only the imports and the failing function(s) of this module are shown;\n"
        "# answer with SEARCH/REPLACE blocks that quote lines shown here exactly.\n"
        + "\n\n".join(kept)
    )
    tests = {
        test_path: _tests_naming(content, names)
        for test_path, content in request.existing_tests.items()
        if any(name in content for name in names)
    }
    return dataclasses.replace(
        request,
        source=excerpt,
        failures=request.failures[:2],
        existing_tests={k: v for k, v in list(tests.items())[:1] if v},
    )


def _tests_naming(content: str, names: list[str]) -> str:
    """The imports and the test functions of ``content`` that mention one of ``names``."""
    try:
        tree = ast.parse(content)
    except SyntaxError:
        return ""
    lines = content.splitlines()
    kept: list[str] = []
    for node in tree.body:
        text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        if isinstance(node, ast.Import | ast.ImportFrom) or any(n in text for n in names):
            kept.append(text)
    return "\n".join(kept)
