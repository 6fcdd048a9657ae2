"""The verdict on a patch, decided by the parent from what it observed of three phases.

- *before*: the original module with the new tests: it must finish by itself
  with pytest's "tests failed" status (1), and every new test the parent
  finds in the new files (by reading their syntax tree) must have run and
  failed. A killed, silent, short or passing *before* run is a failure,
  never "failed as it should";
- *after*: the patched module with the new tests: status 0, every new test
  passed, and the module still exposes the same tools;
- *trusted*: the existing tests only, from a read-only copy that holds no
  file of the patch and not even the module: ``import`` of the module yields
  a proxy to a separate process that loads the patched code
  (:mod:`chimera_engine.patches.module_proxy`). No code of the patch ever
  runs in the trusted test process, so its collection and its report are the
  parent's own: every collected id must have run and passed (or been skipped);
- *baseline*: the existing tests on the untouched workspace (no code of the
  patch anywhere, so its report is as trustworthy as the trusted one): the
  trusted run must collect exactly the same ids, and every test that passes
  here must pass there. A module whose data feeds the tests (a parameter
  table, a skip condition) cannot make a test vanish or turn into a skip.

The new tests are the patch's own claim (their code is as hostile as the
module), so the *before*/*after* checks guard against useless or dishonest
tests, while the *trusted* phase and the kernel's exit statuses carry the
guarantee that the existing behaviour still holds.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from chimera_engine.patches.patchformat import PatchContent
from chimera_engine.patches.sandbox_phase import RunReport, TestOutcome
from chimera_engine.patches.static_tools import tool_problem

_PARAMS = re.compile(r"\[.*\]$")


@dataclass(frozen=True, kw_only=True)
class PatchResult:
    """The verdict on a patch, with everything needed to review it.

    ``layers`` are the isolation layers that held for every phase; ``missing``
    those that did not. ``reduced`` means the patch was tested without full
    kernel isolation (allowed by ``codegen.sandbox = "reduced"``): such a
    result is never auto-approved.
    """

    ok: bool
    reason: str
    fail_to_pass: list[TestOutcome] = field(default_factory=list)
    pass_to_pass: list[TestOutcome] = field(default_factory=list)
    before: list[TestOutcome] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    module_problem: str = ""
    duration_s: float = 0.0
    timed_out: bool = False
    output_excerpt: str = ""
    layers: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reduced: bool = False
    sandbox_uids: list[int] = field(default_factory=list)  # host users of the phases

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_new_ids(tests: dict[str, str]) -> set[str]:
    """Test ids in the new files, from their syntax tree (parameters ignored).

    >>> sorted(expected_new_ids({"tests/test_t.py": "def test_a(): pass\\nclass TestB:\\n"
    ...     "    def test_c(self): pass\\n"}))
    ['tests/test_t.py::TestB::test_c', 'tests/test_t.py::test_a']
    """
    ids: set[str] = set()
    for path, source in tests.items():
        if not path.rsplit("/", 1)[-1].startswith("test"):
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name.startswith("test"):
                    ids.add(f"{path}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                methods = [
                    item.name
                    for item in node.body
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                ]
                ids.update(f"{path}::{node.name}::{m}" for m in methods if m.startswith("test"))
    return ids


def _base(nodeid: str) -> str:
    return _PARAMS.sub("", nodeid)


def _status(report: RunReport) -> str:
    if report.timed_out:
        return "did not finish in time"
    if report.killed:
        return f"was killed by signal {report.signal}"
    return f"ended with status {report.exit_code}"


def decide(
    patch: PatchContent,
    before: RunReport,
    after: RunReport,
    trusted: RunReport,
    baseline: RunReport,
    duration: float,
    *,
    layers: list[str],
    missing: list[str],
    reduced: bool,
) -> PatchResult:
    expected = expected_new_ids(patch.tests)
    fail_to_pass = [t for t in after.tests if _base(t.nodeid) in expected]
    pass_to_pass = [t for t in trusted.tests if t.nodeid.split("::")[0] not in patch.tests]
    phases = (before, after, trusted, baseline)
    violations = sorted({v for r in phases for v in r.violations})
    excerpt = "\n".join(
        [t.output for t in (*after.tests, *trusted.tests) if t.outcome in ("failed", "error")][:3]
        + after.collection_errors[:2]
        + trusted.collection_errors[:1]
    )[-4000:]

    def result(ok: bool, reason: str) -> PatchResult:
        return PatchResult(
            ok=ok,
            reason=reason,
            fail_to_pass=fail_to_pass,
            pass_to_pass=pass_to_pass,
            before=before.tests,
            violations=violations,
            module_problem=after.module_problem,
            duration_s=duration,
            timed_out=any(r.timed_out for r in phases),
            output_excerpt=excerpt or (after.stderr or trusted.stderr or before.stderr)[-2000:],
            layers=layers,
            missing=missing,
            reduced=reduced,
            sandbox_uids=[r.uid for r in phases if r.uid],
        )

    if violations:
        return result(False, f"sandbox violation: {violations[0]}")
    forged = [r.phase for r in phases if r.reports > 1]
    if forged:
        return result(False, f"the {forged[0]} run forged its own report")
    if any(r.timed_out for r in phases):
        return result(False, "the tests did not finish in time (an infinite loop or a hang)")
    if after.module_problem:
        return result(False, f"the patched module is not acceptable: {after.module_problem}")
    for path, new_source in patch.files.items():  # read by the parent: no code of the patch ran
        static_problem = tool_problem(patch.originals.get(path, ""), new_source)
        if static_problem:
            return result(False, f"the patched module is not acceptable: {static_problem}")
    if after.collection_errors or trusted.collection_errors:
        return result(False, "the tests cannot be collected after the patch")
    if not expected:
        return result(False, "the new tests did not run (no test functions in the new files)")
    if before.killed or before.reports != 1 or before.exit_code not in (0, 1):
        return result(
            False,
            f"the run without the patch {_status(before)} instead of failing its new tests; "
            "a missing or short run proves nothing",
        )
    ran_before = {_base(t.nodeid) for t in before.tests}
    if not expected <= ran_before:
        missing_before = sorted(expected - ran_before)
        return result(False, f"a new test did not run without the patch: {missing_before[0]}")
    passing_before = [t.nodeid for t in before.tests if t.outcome == "passed"]
    if passing_before:
        return result(
            False,
            f"new tests pass without the patch too, so they prove nothing: {passing_before[0]}",
        )
    skipped_before = [t.nodeid for t in before.tests if t.outcome == "skipped"]
    if skipped_before:
        return result(
            False, f"a new test is skipped without the patch; it must fail: {skipped_before[0]}"
        )
    if before.exit_code != 1:
        return result(False, f"the run without the patch {_status(before)} instead of 1")
    broken_new = [t.nodeid for t in fail_to_pass if t.outcome != "passed"]
    if broken_new:
        return result(False, f"a new test fails with the patch: {broken_new[0]}")
    if not fail_to_pass:
        return result(False, "the new tests did not run")
    ran_after = {_base(t.nodeid) for t in fail_to_pass}
    if not expected <= ran_after or after.killed or after.exit_code != 0 or after.reports != 1:
        return result(False, f"the run of the new tests with the patch {_status(after)}")
    broken_old = [t.nodeid for t in pass_to_pass if t.outcome not in ("passed", "skipped")]
    if broken_old:
        return result(False, f"an existing test breaks with the patch: {broken_old[0]}")
    if set(trusted.collected) != {t.nodeid for t in trusted.tests}:
        lost = sorted(set(trusted.collected) - {t.nodeid for t in trusted.tests})
        return result(
            False,
            "the existing tests did not all run with the patch"
            + (f": {lost[0]}" if lost else " (unexpected test ids)"),
        )
    if trusted.exit_code not in (0, 5) or trusted.reports != 1:
        return result(False, f"the run of the existing tests with the patch {_status(trusted)}")
    if baseline.killed or baseline.reports != 1 or baseline.exit_code not in (0, 1, 5):
        return result(False, f"the run of the existing tests without the patch {_status(baseline)}")
    if set(trusted.collected) != set(baseline.collected):
        changed = sorted(set(trusted.collected) ^ set(baseline.collected))
        return result(
            False,
            f"the patch changes which existing tests exist: {changed[0]} "
            "(a test fed by the module's data vanished or appeared)",
        )
    outcome = {t.nodeid: t.outcome for t in trusted.tests}
    lost_pass = [t.nodeid for t in baseline.tests if t.outcome == "passed"]
    lost_pass = [n for n in lost_pass if outcome.get(n) != "passed"]
    if lost_pass:
        return result(
            False,
            f"an existing test passes without the patch but not with it: {lost_pass[0]} "
            f"({outcome.get(lost_pass[0], 'did not run')})",
        )
    return result(
        True,
        f"{len(fail_to_pass)} new test(s) fail before and pass after; "
        f"{len(pass_to_pass)} existing test(s) still pass",
    )
