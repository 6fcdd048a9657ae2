"""Shared pieces for patch tests: a workspace with a buggy tool and a scripted provider."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chimera_engine.patches.providers.base import Completion, CompletionRequest, ProviderError

BUGGY = """from chimera_engine.tooling import tool


@tool(name="ratio", description="a divided by b")
def ratio(a: float, b: float) -> float:
    return a / b
"""

EXISTING_TEST = """import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.mathy import ratio


def test_ratio() -> None:
    assert ratio(6, 3) == 2
"""

FIX = """The divisor can be zero; answer 0.0 then.

```diff
--- a/tools/mathy.py
+++ b/tools/mathy.py
@@ -4,3 +4,5 @@
 @tool(name="ratio", description="a divided by b")
 def ratio(a: float, b: float) -> float:
+    if b == 0:
+        return 0.0
     return a / b
```

```python
# file: tests/test_ratio_zero.py
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.mathy import ratio


def test_zero_divisor() -> None:
    assert ratio(1, 0) == 0.0
```
"""

# Fixes the zero case and passes every test, but refuses negative numbers, which the
# live workload sends: a regression only the watch after applying can catch.
WORSE = FIX.replace(
    "+    if b == 0:\n+        return 0.0\n",
    "+    if b == 0:\n+        return 0.0\n+    if a < 0:\n+        raise ValueError('negative')\n",
).replace("@@ -4,3 +4,5 @@", "@@ -4,3 +4,7 @@")


TOOLS = """from chimera_engine.tooling import tool


@tool(name="ratio", description="a divided by b")
def ratio(a: float, b: float) -> float:
    return a / b


@tool(name="double", description="twice x")
def double(x: float) -> float:
    return x * 2


@tool(name="half", description="half of x")
def half(x: float) -> float:
    return x / 2
"""

TWO_TOOL_TESTS = """import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.mathy import half, ratio


def test_ratio() -> None:
    assert ratio(6, 3) == 2


def test_half() -> None:
    assert half(4) == 2
"""

NEW_TEST = """```python
# file: tests/test_ratio_zero.py
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.mathy import ratio


def test_zero_divisor() -> None:
    assert ratio(1, 0) == 0.0
```
"""

# Two hunks: the fix (hunk 1) and a change to half() that breaks test_half (hunk 2).
TWO_HUNKS = (
    """Zero divisors answer 0.0; half is simplified.

```python
tools/mathy.py
<<<<<<< SEARCH
    return a / b
=======
    if b == 0:
        return 0.0
    return a / b
>>>>>>> REPLACE
tools/mathy.py
<<<<<<< SEARCH
    return x / 2
=======
    return x / 3
>>>>>>> REPLACE
```

"""
    + NEW_TEST
)


def make_workspace(root: Path) -> Path:
    (root / "tools").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "tools" / "__init__.py").write_text("")
    (root / "tools" / "mathy.py").write_text(BUGGY)
    (root / "tests" / "test_mathy.py").write_text(EXISTING_TEST)
    return root


def make_two_tool_workspace(root: Path) -> Path:
    """A module of three tools whose patch :data:`TWO_HUNKS` has two hunks."""
    (root / "tools").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "tools" / "__init__.py").write_text("")
    (root / "tools" / "mathy.py").write_text(TOOLS)
    (root / "tests" / "test_mathy.py").write_text(TWO_TOOL_TESTS)
    return root


class ScriptedProvider:
    """Answers from a list (text, or an exception to raise); records every request."""

    name = "scripted"
    model = "script-1"
    is_replay = False

    def __init__(
        self,
        answers: Sequence[str | ProviderError],
        cost: float = 0.01,
        truncated: Sequence[bool] = (),
    ) -> None:
        self.answers = list(answers)
        self.truncated = list(truncated)
        self.cost = cost
        self.requests: list[CompletionRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        if not self.answers:
            raise ProviderError("script exhausted", provider=self.name)
        answer = self.answers.pop(0)
        if isinstance(answer, ProviderError):
            raise answer
        truncated = self.truncated.pop(0) if self.truncated else False
        return Completion(
            text=answer,
            provider=self.name,
            model=self.model,
            input_tokens=100,
            output_tokens=50,
            cost_usd=self.cost,
            latency_s=0.01,
            finish_reason="length" if truncated else "stop",
            truncated=truncated,
        )

    async def aclose(self) -> None:
        pass
