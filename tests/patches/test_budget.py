"""Fitting a prompt into the model's context: the answer limit, shrinking, and giving up."""

from __future__ import annotations

import dataclasses

from chimera_engine.patches.budget import (
    estimate_tokens,
    failing_functions,
    plan_prompt,
    shrink_request,
)
from chimera_engine.patches.models import FailureSample, PatchRequest

SOURCE = (
    '''import math


def ratio(a, b):
    return a / b


def unrelated(x):
    """'''
    + "padding " * 2000
    + '''"""
    return x
'''
)
TESTS = """from tools.mathy import ratio, unrelated


def test_ratio():
    assert ratio(4, 2) == 2


def test_unrelated():
    assert unrelated(1) == 1
"""
FAILURE = FailureSample(
    args={"a": 1, "b": 0},
    exception_type="ZeroDivisionError",
    message="division by zero",
    traceback='  File "tools/mathy.py", line 5, in ratio\n    return a / b\nZeroDivisionError',
)


def request(**changes: object) -> PatchRequest:
    base = PatchRequest(
        module="mathy",
        base_version=1,
        source=SOURCE,
        failures=[FAILURE],
        existing_tests={"tests/test_mathy.py": TESTS},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_unknown_context_sends_everything_with_the_configured_limit() -> None:
    plan = plan_prompt(
        request(), "tools/mathy.py", [], [], context=None, max_tokens=4000, min_output=512
    )
    assert not plan.error and plan.max_tokens == 4000 and "padding" in plan.prompt


def test_the_answer_limit_is_cut_to_the_room_left() -> None:
    plan = plan_prompt(
        request(), "tools/mathy.py", [], [], context=32_000, max_tokens=30_000, min_output=512
    )
    assert not plan.shrunk and plan.max_tokens < 30_000
    assert plan.max_tokens + estimate_tokens(plan.prompt) <= 32_000


def test_too_big_a_module_is_cut_to_the_failing_function_and_its_tests() -> None:
    assert failing_functions(request()) == ["ratio"]
    plan = plan_prompt(
        request(), "tools/mathy.py", [], [], context=4096, max_tokens=4000, min_output=512
    )
    assert plan.shrunk and not plan.error and plan.max_tokens >= 512
    assert "def ratio" in plan.prompt and "import math" in plan.prompt
    assert "padding" not in plan.prompt and "test_unrelated" not in plan.prompt
    assert "test_ratio" in plan.prompt


def test_without_a_traceback_nothing_can_be_cut_and_the_message_says_why() -> None:
    bare = request(failures=[])
    assert shrink_request(bare) is None
    plan = plan_prompt(
        bare, "tools/mathy.py", [], [], context=2048, max_tokens=4000, min_output=512
    )
    assert plan.error.startswith("the model's context (2,048 tokens) is too small for this module")
