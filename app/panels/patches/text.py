"""A patch as text in the answer format the engine parses (for the operator's editor).

The text is the rationale, the change to the module as a fenced unified diff,
and each new test file in a fenced ``python`` block whose first line names it
(``# file: tests/test_x.py``). The engine re-reads exactly this format when the
operator submits an edited version (:meth:`PatchesService.edit_patch`).
"""

from __future__ import annotations

import difflib

from chimera_engine.patches.models import Patch


def module_diff(patch: Patch) -> str:
    """The unified diff of the patch's module files only (not its new tests).

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class P:
    ...     originals: dict[str, str]
    ...     files: dict[str, str]
    >>> print(module_diff(P({"tools/m.py": "a\\n"}, {"tools/m.py": "b\\n"})), end="")
    --- a/tools/m.py
    +++ b/tools/m.py
    @@ -1 +1 @@
    -a
    +b
    """
    return "".join(
        "".join(
            difflib.unified_diff(
                patch.originals.get(path, "").splitlines(keepends=True),
                content.splitlines(keepends=True),
                fromfile=f"a/{path}",
                tofile=f"b/{path}",
            )
        )
        for path, content in sorted(patch.files.items())
    )


def _fenced(language: str, body: str) -> str:
    return f"```{language}\n{body if body.endswith(chr(10)) else body + chr(10)}```\n"


def answer_text(patch: Patch) -> str:
    """The patch in the answer format, ready to edit and submit again."""
    parts = [
        patch.rationale.strip() or f"Fix for {patch.module}.",
        "",
        _fenced("diff", module_diff(patch)),
    ]
    for path, content in sorted(patch.tests.items()):
        parts += ["", _fenced("python", f"# file: {path}\n{content}")]
    return "\n".join(parts)
