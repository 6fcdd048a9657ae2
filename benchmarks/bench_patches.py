"""Patch verification figures: bad patches must never pass, good ones always, quickly.

Run: ``.venv/bin/python benchmarks/bench_patches.py [NAME-SUBSTRING ...]``.

Every answer in ``benchmarks/patches/cases/`` is a model's answer exactly as
it would arrive, with a front-matter block saying which module it patches and
what the engine must decide::

    ---
    module: mathy
    expect: rejected
    reason: sandbox violation: network connection
    ---
    ...the answer...

Each case goes through the real pipeline: ``parse_answer`` and ``materialise``
against the module's original source, then, if that succeeds,
``PatchTester.test`` against a fresh temporary copy of
``benchmarks/patches/workspace``. Cases run one after another (the sandbox
itself runs its two phases in parallel). Good cases are verified three times
for the timing figures. The exit code is 1 if a bad patch is accepted, a good
one is rejected, a bad one is rejected for another reason than its case says,
or the workspace copy is altered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from chimera_engine.patches.patchformat import PatchFormatError, materialise, parse_answer
from chimera_engine.patches.sandbox import PatchResult, PatchTester, SandboxLimits

HERE = Path(__file__).resolve().parent / "patches"
WORKSPACE = HERE / "workspace"
CASES = HERE / "cases"
LIMITS = SandboxLimits(wall_seconds=10, cpu_seconds=10)
TIMING_RUNS = 3
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str
    module: str
    expect: str  # "accepted" or "rejected"
    reason: str  # for rejected cases: a substring of the engine's reason
    answer: str

    @property
    def path(self) -> str:
        return f"tools/{self.module}.py"


@dataclass(frozen=True, kw_only=True)
class Outcome:
    case: Case
    accepted: bool
    reason: str
    stage: str  # "format" (parse/materialise) or "sandbox"
    seconds: float
    result: PatchResult | None = None
    tampered: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        return "accepted" if self.accepted else "rejected"

    @property
    def correct(self) -> bool:
        if self.tampered or self.verdict != self.case.expect:
            return False
        return self.accepted or self.case.reason in self.reason


def parse_case(path: Path) -> Case:
    """A case file: ``---``, ``key: value`` lines, ``---``, then the answer verbatim."""
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines[0].strip() != "---":
        raise ValueError(f"{path.name}: no front matter")
    end = lines.index("---", 1)
    meta: dict[str, str] = {}
    for line in lines[1:end]:
        key, _, value = line.partition(":")
        meta[key.strip()] = value.strip()
    if meta.get("expect") not in ("accepted", "rejected"):
        raise ValueError(f"{path.name}: expect must be accepted or rejected")
    if meta["expect"] == "rejected" and not meta.get("reason"):
        raise ValueError(f"{path.name}: a rejected case needs a reason")
    return Case(
        name=path.stem,
        module=meta["module"],
        expect=meta["expect"],
        reason=meta.get("reason", ""),
        answer="\n".join(lines[end + 1 :]).lstrip("\n"),
    )


def load_cases(directory: Path | None = None) -> list[Case]:
    return [parse_case(p) for p in sorted((directory or CASES).glob("*.md"))]


def existing_tests(workspace: Path) -> set[str]:
    tests = workspace / "tests"
    return {f"tests/{p.relative_to(tests).as_posix()}" for p in tests.rglob("*.py")}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (bytecode caches aside) and its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def changes(before: dict[str, bytes], after: dict[str, bytes]) -> tuple[str, ...]:
    """Paths added, removed or altered between two snapshots."""
    return tuple(sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p)))


async def run_case(
    case: Case, workspace: Path = WORKSPACE, limits: SandboxLimits = LIMITS
) -> Outcome:
    """Parse, materialise and (when that succeeds) sandbox-test one answer."""
    started = time.perf_counter()
    originals = {case.path: (workspace / case.path).read_text(encoding="utf-8")}
    try:
        content = materialise(
            parse_answer(case.answer),
            originals,
            allowed={case.path},
            existing_tests=existing_tests(workspace),
        )
    except PatchFormatError as exc:
        return Outcome(
            case=case,
            accepted=False,
            reason=str(exc),
            stage="format",
            seconds=time.perf_counter() - started,
        )
    result = await PatchTester(workspace, limits).test(content, case.module)
    return Outcome(
        case=case,
        accepted=result.ok,
        reason=result.reason,
        stage="sandbox",
        seconds=time.perf_counter() - started,
        result=result,
    )


async def run_in_copy(case: Case, limits: SandboxLimits = LIMITS) -> Outcome:
    """:func:`run_case` against a temporary copy of the workspace, checked afterwards."""
    with tempfile.TemporaryDirectory(prefix="chimera-bench-patches-") as tmp:
        copy = Path(tmp) / "workspace"
        shutil.copytree(WORKSPACE, copy, ignore=IGNORED)
        before = snapshot(copy)
        outcome = await run_case(case, copy, limits)
        tampered = changes(before, snapshot(copy))
    if tampered:
        outcome = dataclasses.replace(outcome, tampered=tampered)
    return outcome


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def line(outcome: Outcome) -> str:
    mark = "ok " if outcome.correct else "!! "
    reason = outcome.reason.replace("\n", " ")
    if len(reason) > 110:
        reason = reason[:107] + "..."
    if outcome.tampered:
        reason = f"WORKSPACE ALTERED: {', '.join(outcome.tampered)}; {reason}"
    return (
        f"{mark}{outcome.case.name:<34} expect {outcome.case.expect:<8} "
        f"got {outcome.verdict:<8} {outcome.seconds:6.2f} s  {reason}"
    )


async def main(argv: list[str]) -> int:
    cases = [c for c in load_cases() if not argv or any(a in c.name for a in argv)]
    good = [c for c in cases if c.expect == "accepted"]
    bad = [c for c in cases if c.expect == "rejected"]
    print(f"{len(cases)} cases ({len(good)} good, {len(bad)} bad) from {CASES}", flush=True)
    print(f"limits: wall {LIMITS.wall_seconds:g} s, cpu {LIMITS.cpu_seconds} s", flush=True)
    outcomes: list[Outcome] = []
    timings: list[float] = []
    for case in cases:
        runs = TIMING_RUNS if case.expect == "accepted" else 1
        for run in range(runs):
            outcome = await run_in_copy(case)
            if case.expect == "accepted" and outcome.result is not None:
                timings.append(outcome.result.duration_s)
            if run == 0:
                outcomes.append(outcome)
                print(line(outcome), flush=True)
            elif outcome.verdict != outcomes[-1].verdict or outcome.tampered:
                print(f"!! {case.name}: run {run + 1} was {outcome.verdict}", flush=True)
                outcomes[-1] = outcome

    bad_accepted = [o for o in outcomes if o.case.expect == "rejected" and o.accepted]
    good_accepted = [o for o in outcomes if o.case.expect == "accepted" and o.accepted]
    wrong_reason = [
        o
        for o in outcomes
        if o.case.expect == "rejected" and not o.accepted and o.case.reason not in o.reason
    ]
    tampered = [o for o in outcomes if o.tampered]
    print()
    print(f"bad patches accepted: {len(bad_accepted)} of {len(bad)} (target 0)")
    print(f"good patches accepted: {len(good_accepted)} of {len(good)} (target all)")
    print(f"bad patches rejected for another reason than expected: {len(wrong_reason)}")
    print(f"workspace copies altered by a case: {len(tampered)}")
    if timings:
        print(
            "sandbox verification time for a small module: "
            f"median {statistics.median(timings):.2f} s, p90 {percentile(timings, 0.9):.2f} s "
            "(target median <= 2 s)"
        )
        print(f"  ({len(timings)} runs: {TIMING_RUNS} of each of the {len(good)} good cases)")
    failed = bad_accepted or len(good_accepted) != len(good) or wrong_reason or tampered
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
