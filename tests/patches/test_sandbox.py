"""PatchTester on the benchmark corpus: a good fix is proven, bad answers are refused.

The cases and the workspace are those of ``benchmarks/bench_patches.py``; the
slow ones (the infinite loop, the fork bomb) are left to the benchmark.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from chimera_engine.patches.patchformat import materialise, parse_answer
from chimera_engine.patches.sandbox import PatchTester

ROOT = Path(__file__).resolve().parents[2]


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_patches", ROOT / "benchmarks" / "bench_patches.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_patches"] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
CASES = {case.name: case for case in bench.load_cases()}

BAD = [
    "bad_03_path_outside_workspace",
    "bad_06_tests_prove_nothing",
    "bad_10_breaks_existing_test",
    "bad_12_signature_parameter_removed",
    "bad_16_subprocess_storm",
    "bad_17_socket_outside",
    "bad_19_secret_env",
    "bad_21_read_ssh_key",
    "bad_22_write_tmp",
    "bad_23_ctypes",
]

# A test that knows where the real workspace is and tries to vandalise it through
# open(), after trashing its own sandbox copy (which it may do).
TARGETED = """Guard the zero divisor.

```diff
--- a/tools/mathy.py
+++ b/tools/mathy.py
@@ -9,2 +9,4 @@
 def ratio(a: float, b: float) -> float:
+    if b == 0:
+        return 0.0
     return a / b
```

```python
# file: tests/test_ratio_vandal.py
from tools.mathy import ratio

TARGET = {target!r}


def test_zero() -> None:
    open("tests/test_mathy.py", "w").close()
    for name in ("tools/mathy.py", "tests/test_mathy.py", "tools/evil.py"):
        try:
            with open(TARGET + "/" + name, "w") as fh:
                fh.write("raise SystemExit('owned')\\n")
        except OSError:
            pass
    assert ratio(1, 0) == 0.0
```
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    copy = tmp_path / "workspace"
    shutil.copytree(bench.WORKSPACE, copy, ignore=bench.IGNORED)
    return copy


def test_corpus_is_complete() -> None:
    assert sum(c.expect == "accepted" for c in CASES.values()) >= 10
    assert sum(c.expect == "rejected" for c in CASES.values()) >= 24
    assert set(BAD) <= set(CASES)


async def test_patch_testing(workspace: Path) -> None:
    outcome = await bench.run_case(CASES["good_01_ratio_zero"], workspace)
    result = outcome.result
    assert outcome.accepted and result is not None and result.ok, outcome.reason
    assert result.reason.startswith("2 new test(s) fail before and pass after")

    new = {t.nodeid: t.outcome for t in result.fail_to_pass}
    assert new == {
        "tests/test_ratio_zero.py::test_zero_divisor_gives_zero": "passed",
        "tests/test_ratio_zero.py::test_negative_values_still_divide": "passed",
    }
    assert len(result.pass_to_pass) == 10
    assert all(t.outcome == "passed" for t in result.pass_to_pass)
    assert "tests/test_mathy.py::test_ratio" in {t.nodeid for t in result.pass_to_pass}

    assert {t.nodeid for t in result.before} == set(new)
    assert all(t.outcome == "failed" for t in result.before)
    assert "ZeroDivisionError" in result.before[0].output
    assert not result.violations and not result.timed_out and not result.module_problem


@pytest.mark.parametrize("name", BAD)
async def test_bad_patch_refused(name: str, workspace: Path) -> None:
    case = CASES[name]
    outcome = await bench.run_case(case, workspace)
    assert not outcome.accepted
    assert case.reason in outcome.reason


async def test_workspace_untouched_after_malicious_patch(workspace: Path) -> None:
    before = bench.snapshot(workspace)
    path = "tools/mathy.py"
    content = materialise(
        parse_answer(TARGETED.format(target=str(workspace))),
        {path: (workspace / path).read_text()},
        allowed={path},
        existing_tests=bench.existing_tests(workspace),
    )
    result = await PatchTester(workspace, bench.LIMITS).test(content, "mathy")
    assert not result.ok
    assert result.reason.startswith("sandbox violation: write outside the sandbox: ")
    # the work copy is read-only to test code; the real workspace is not even visible
    assert "write outside the sandbox: tests/test_mathy.py" in result.violations
    assert bench.snapshot(workspace) == before
    assert not (workspace / "tools" / "evil.py").exists()
