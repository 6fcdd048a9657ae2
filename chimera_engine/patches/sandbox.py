"""PatchTester: proves a patch in throwaway copies of the workspace, in sandboxed phases.

Four phases run in parallel, each a subprocess under bubblewrap (see
:mod:`chimera_engine.patches.isolation`) on its own read-only copy of the
workspace: *before* (the original module with the new tests), *after* (the
patched module with the new tests), *trusted* (the existing tests only,
the patched module reached through a separate process) and *baseline* (the
existing tests on the untouched workspace: no code of the patch at all). Each phase gets
rlimits for CPU, memory, processes, open files and file size, Landlock file
rules, a scrubbed environment and (optionally) the audit-hook guards of
:mod:`chimera_engine.patches.sandbox_runner`; its PID namespace ends with it.
:func:`chimera_engine.patches.verdict.decide` rules from exit statuses, the
trusted phase's report and the test ids the parent expects.

Without kernel isolation the tester refuses (``sandbox = "strict"``) or, when
the operator allows it (``"reduced"``), tests anyway and flags the result,
which is then never auto-approved.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
from pathlib import Path

from chimera_engine.patches import isolation
from chimera_engine.patches.isolation import Isolation
from chimera_engine.patches.patchformat import PatchContent
from chimera_engine.patches.sandbox_phase import (
    RunReport,
    SandboxLimits,
    TestOutcome,
    run_phase,
)
from chimera_engine.patches.verdict import PatchResult, decide

__all__ = [
    "PatchResult",
    "PatchTester",
    "RunReport",
    "SandboxLimits",
    "TestOutcome",
    "find_tampering",
]

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git", "data")


class PatchTester:
    """Runs :class:`PatchContent` against copies of the workspace; never touches the original."""

    def __init__(self, workspace_root: Path, limits: SandboxLimits | None = None) -> None:
        self.workspace_root = workspace_root
        self.limits = limits or SandboxLimits()
        self._iso: Isolation | None = None

    async def isolation(self) -> Isolation:
        """What the kernel offers here (probed once, in a thread)."""
        if self._iso is None:
            self._iso = await asyncio.to_thread(
                isolation.probe, self.limits.bwrap, want_landlock=self.limits.landlock
            )
        return self._iso

    def _copy(
        self, into: Path, files: dict[str, str], tests: dict[str, str], drop: tuple[str, ...] = ()
    ) -> Path:
        work = into / "ws"
        shutil.copytree(self.workspace_root, work, ignore=_IGNORED)
        for path in drop:  # the trusted copy holds no code of the patch, not even the old one
            (work / path).unlink(missing_ok=True)
        for path, content in (*files.items(), *tests.items()):
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        if not any((work / n).exists() for n in ("pytest.ini", "pyproject.toml", "setup.cfg")):
            (work / "pytest.ini").write_text("[pytest]\n")
        for entry in (into, *into.rglob("*")):  # readable by the unprivileged sandbox user
            entry.chmod(0o755 if entry.is_dir() else 0o644)
        return work

    def _prepare(self, root: Path, patch: PatchContent) -> tuple[Path, Path, Path, Path]:
        """Four copies: with the new tests, patched with them, without the module,
        and the untouched original (for the existing tests' baseline)."""
        root.chmod(0o755)
        return (
            self._copy(root / "before", {}, patch.tests),
            self._copy(root / "after", patch.files, patch.tests),
            self._copy(root / "trusted", {}, {}, drop=tuple(patch.files)),
            self._copy(root / "baseline", {}, {}),
        )

    async def _phase(
        self,
        phase: str,
        work: Path,
        targets: list[str],
        iso: Isolation,
        check: dict[str, str] | None = None,
        proxy: tuple[Path, str] | None = None,
    ) -> RunReport:
        """The fork and the waiting happen in a worker thread: forking a large process
        (the console) from the loop thread would stall the GUI."""
        return await asyncio.to_thread(
            run_phase,
            phase,
            work,
            targets,
            iso=iso,
            limits=self.limits,
            module_check=check,
            proxy=proxy,
        )

    def refusal(self, iso: Isolation) -> str:
        """Why the patch cannot be tested here ("" when it can)."""
        if self.limits.sandbox == "reduced":
            return ""
        if not iso.kernel:
            return (
                "patch testing refused: no kernel isolation for the sandbox: "
                f"{iso.explain()}. Install what is missing, or set codegen.sandbox = "
                '"reduced" to test with weaker isolation (never auto-approved)'
            )
        if iso.missing:
            return (
                f"patch testing refused: sandbox layer missing: {iso.explain()}. "
                'Set codegen.sandbox = "reduced" to test without it (never auto-approved)'
            )
        return ""

    async def test(self, patch: PatchContent, module: str) -> PatchResult:
        """Run the three phases and decide."""
        started = time.perf_counter()
        iso = await self.isolation()
        refused = self.refusal(iso)
        if refused:
            return PatchResult(ok=False, reason=refused, missing=list(iso.missing), reduced=True)
        tampering = find_tampering(patch) if self.limits.guards else ""
        if tampering:
            return PatchResult(
                ok=False,
                reason=f"the patch or its tests tamper with the sandbox: {tampering}",
                violations=[tampering],
                layers=list(iso.layers),
            )
        module_path = next(iter(patch.files))
        with tempfile.TemporaryDirectory(prefix="chimera-sandbox-") as tmp:
            root = Path(tmp)
            before_dir, after_dir, trusted_dir, baseline_dir = await asyncio.to_thread(
                self._prepare, root, patch
            )
            check = {
                "name": module,
                "old": patch.originals[module_path],
                "new": patch.files[module_path],
                "filename": module_path,
            }
            existing = ["tests"] if await asyncio.to_thread((trusted_dir / "tests").is_dir) else []
            new_tests = sorted(patch.tests)
            before, after, trusted, baseline = await asyncio.gather(
                self._phase("before", before_dir, new_tests, iso),
                self._phase("after", after_dir, new_tests, iso, check),
                self._phase(
                    "trusted", trusted_dir, existing, iso, proxy=(after_dir, _dotted(module_path))
                ),
                # no code of the patch at all: which existing tests exist and pass today
                self._phase("baseline", baseline_dir, existing, iso),
            )
        phases = (before, after, trusted, baseline)
        layers = [name for name in iso.layers if name != "landlock"]
        if self.limits.landlock and all(r.layers.get("landlock") for r in phases):
            layers.append("landlock")
        if not iso.kernel and all(r.layers.get("netns") for r in phases):
            layers.append("netns")
        if all(r.layers.get("rlimits") for r in phases):
            layers.append("rlimits")
        if all(r.layers.get("seccomp") for r in phases):
            layers.append("seccomp")
        if self.limits.guards:
            layers.append("guards")
        missing = sorted({*iso.missing, *(n for n in isolation.FULL_LAYERS if n not in layers)})
        reduced = bool(missing)
        if reduced and self.limits.sandbox != "reduced":
            return PatchResult(
                ok=False,
                reason=f"patch testing refused: sandbox layer did not hold: {', '.join(missing)}",
                layers=layers,
                missing=missing,
                reduced=True,
                sandbox_uids=[r.uid for r in phases if r.uid],
            )
        return decide(
            patch,
            before,
            after,
            trusted,
            baseline,
            time.perf_counter() - started,
            layers=layers,
            missing=missing,
            reduced=reduced,
        )


def _dotted(path: str) -> str:
    """``tools/mathy.py`` -> ``tools.mathy`` (a package's ``__init__.py`` -> the package).

    >>> _dotted("tools/mathy.py"), _dotted("tools/sub/__init__.py")
    ('tools.mathy', 'tools.sub')
    """
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


_TAMPER = re.compile(
    r"os\._exit|\bgc\.|sys\.addaudithook|sys\.audit\b|sys\._getframe|_current_frames|"
    r"settrace|setprofile|/proc/self/fd|os\.write\(|os\.dup2?\(|os\.close\(|"
    r"sandbox_runner|_posixsubprocess|pluginmanager|hookimpl|hookwrapper|_pytest\b|sandbox_phase|\bGuard\b|GuardedEnviron|__builtins__|builtins\.|importlib\.reload|"
    r"sys\.modules\[[^]]*\]\s*="
)


def find_tampering(patch: PatchContent) -> str:
    """A static look for code that reaches for the sandbox's own machinery ("" if none).

    Crude on purpose: a fix for a tool and a test of it have no business with
    these names, so any match is refused outright.
    """
    for path, content in (*patch.files.items(), *patch.tests.items()):
        for number, line in enumerate(content.splitlines(), 1):
            match = _TAMPER.search(line)
            if match:
                return f"{path} line {number} uses {match.group(0)!r}"
    return ""
