"""Parsing and applying patches strictly."""

from __future__ import annotations

import pytest

from chimera_engine.patches.patchformat import (
    PatchFormatError,
    apply_search_replace,
    apply_unified,
    materialise,
    parse_answer,
)

SOURCE = """def ratio(a: float, b: float) -> float:
    return a / b


def double(x: int) -> int:
    return x * 2
"""

DIFF = """--- a/tools/mathy.py
+++ b/tools/mathy.py
@@ -1,2 +1,4 @@
 def ratio(a: float, b: float) -> float:
+    if b == 0:
+        return 0.0
     return a / b
"""

TEST = (
    "# file: tests/test_fix.py\nfrom tools.mathy import ratio\n\n\n"
    "def test_zero() -> None:\n    assert ratio(1, 0) == 0.0\n"
)


def answer(edit: str, test: str = TEST, lang: str = "diff") -> str:
    return f"Guard the zero divisor.\n\n```{lang}\n{edit}```\n\n```python\n{test}```\n"


def test_unified_diff_applies_and_is_checked() -> None:
    parsed = parse_answer(answer(DIFF))
    assert parsed.kind == "unified" and parsed.rationale == "Guard the zero divisor."
    content = materialise(
        parsed, {"tools/mathy.py": SOURCE}, allowed={"tools/mathy.py"}, existing_tests=set()
    )
    assert "if b == 0:" in content.files["tools/mathy.py"]
    assert content.tests == {"tests/test_fix.py": TEST.split("\n", 1)[1]}
    assert content.diff.startswith("--- a/tools/mathy.py")
    assert "+++ b/tests/test_fix.py" in content.diff
    assert len(content.diff_hash) == 64


def test_hunk_line_numbers_may_be_off_but_context_must_match() -> None:
    shifted = DIFF.replace("@@ -1,2 +1,4 @@", "@@ -7,2 +7,4 @@")
    assert "if b == 0" in apply_unified(SOURCE, shifted.split("\n", 2)[2], "x")
    wrong = DIFF.replace("     return a / b", "     return a // b")
    with pytest.raises(PatchFormatError, match="hunk 1 does not apply"):
        apply_unified(SOURCE, wrong.split("\n", 2)[2], "tools/mathy.py")


def test_search_replace_blocks() -> None:
    blocks = (
        "tools/mathy.py\n<<<<<<< SEARCH\n    return x * 2\n=======\n    return x + x\n"
        ">>>>>>> REPLACE\n"
    )
    parsed = parse_answer(answer(blocks, lang="python"))
    assert parsed.kind == "search_replace"
    assert "x + x" in apply_search_replace(SOURCE, parsed.edits["tools/mathy.py"], "p")
    ambiguous = blocks.replace("    return x * 2\n=", "    return \n=")
    with pytest.raises(PatchFormatError, match="SEARCH block 1"):
        apply_search_replace(SOURCE, ambiguous, "p")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("Sure! I think the bug is in ratio. Let me know if you want a fix.", "no patch"),
        (f"```diff\n{DIFF}```\n", "no tests"),
        (f"```diff\n{DIFF}```\n\n```python\n{TEST}", "truncated"),
        (
            answer(
                DIFF.replace("a/tools/mathy.py", "a/../../etc/passwd").replace(
                    "b/tools/mathy.py", "b/../../etc/passwd"
                )
            ),
            "outside the workspace",
        ),
    ],
)
def test_bad_answers_refused(text: str, reason: str) -> None:
    with pytest.raises(PatchFormatError, match=reason):
        parse_answer(text)


@pytest.mark.parametrize(
    ("edit", "test", "reason"),
    [
        (DIFF.replace("tools/mathy.py", "tools/other.py"), TEST, "only tools/mathy.py may change"),
        (DIFF, TEST.replace("tests/test_fix.py", "tests/test_mathy.py"), "may not edit existing"),
        (DIFF, TEST.replace("tests/test_fix.py", "tools/test_x.py"), "must be tests/test_"),
        (DIFF.replace("+        return 0.0", "+        return (0.0"), TEST, "SyntaxError"),
        (DIFF, TEST + "def broken(:\n", "SyntaxError"),
    ],
)
def test_patches_breaking_the_rules_refused(edit: str, test: str, reason: str) -> None:
    parsed = parse_answer(answer(edit, test))
    with pytest.raises(PatchFormatError, match=reason):
        materialise(
            parsed,
            {"tools/mathy.py": SOURCE},
            allowed={"tools/mathy.py"},
            existing_tests={"tests/test_mathy.py"},
        )
