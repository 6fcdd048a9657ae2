"""The prompt that asks a model for a fix and for tests that prove it."""

from __future__ import annotations

import json

from chimera_engine.patches.models import PatchRequest
from chimera_engine.patches.store import Pattern

SYSTEM = """You fix bugs in small Python tool modules of an operator's workspace.
Answer with exactly two parts and nothing else of substance:
1. the change to the module, as ONE fenced ```diff block holding a unified diff
   (--- a/PATH / +++ b/PATH headers, @@ hunks with 3 lines of context), or as
   SEARCH/REPLACE blocks (PATH line, <<<<<<< SEARCH, the exact old lines, =======,
   the new lines, >>>>>>> REPLACE);
2. one or more NEW pytest files, each a fenced ```python block whose first line is
   `# file: tests/test_<something>.py`. The new tests must FAIL on the current code
   and PASS after your change. Import the module as `from tools.<module> import ...`.
Rules: change only the module you are given; never edit existing tests; keep every
tool's name and signature compatible; no network access, no environment variables,
no files outside the workspace, no subprocesses. One sentence of rationale before
the blocks is welcome."""


def _block(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text.rstrip()}\n```"


def build_prompt(
    request: PatchRequest, path: str, patterns: list[Pattern], feedback: list[str]
) -> str:
    """The user message: the module, the evidence, past fixes, and earlier rejections."""
    parts = [
        f"Module `{path}` (version {request.base_version}) misbehaves.",
        "",
        f"Current source of {path}:",
        _block(request.source, "python"),
    ]
    if request.failures:
        parts.append("\nFailing calls (most recent first):")
        for i, failure in enumerate(request.failures[:5], 1):
            parts.append(
                f"{i}. args={json.dumps(failure.args, default=str)[:500]} -> "
                f"{failure.exception_type}: {failure.message[:300]}"
            )
            if failure.traceback:
                parts.append(_block(failure.traceback[-1500:]))
    if request.metrics:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(request.metrics.items()))
        parts.append(f"\nMetrics of this version: {metrics}")
    if request.anomalies:
        parts.append("Anomalies seen: " + "; ".join(request.anomalies[:5]))
    if request.note:
        parts.append(f"\nOperator's note: {request.note}")
    for test_path, content in list(request.existing_tests.items())[:3]:
        parts.append(f"\nExisting test {test_path} (must keep passing, do not edit):")
        parts.append(_block(content[-3000:], "python"))
    for pattern in patterns:
        parts.append(
            f"\nA similar failure fixed before in `{pattern.module}` "
            f"(similarity {pattern.similarity:.2f}):"
        )
        parts.append(_block(pattern.diff[-2500:], "diff"))
    if feedback:
        parts.append("\nYour earlier answers were rejected:")
        parts += [f"- {reason}" for reason in feedback]
        parts.append("Give a corrected answer.")
    return "\n".join(parts)
