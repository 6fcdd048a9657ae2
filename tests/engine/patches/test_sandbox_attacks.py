"""The adversarial corpus against the kernel layers alone (in-process guards off).

Each case of ``benchmarks/patches/cases`` named here is an attack on the
verdict or on the host. With the audit-hook guards and the static tamper
screen switched off, only bubblewrap's namespaces, the unprivileged user,
rlimits and Landlock stand between the case and the machine. A case must
then be refused, or, where the attack simply failed inside the sandbox and
the fix itself is right, rated high risk by the screen (so never
auto-approved); and the host must show no trace: no process of the case
alive afterwards, a host process and this engine unharmed, no connection on
a host socket.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chimera_engine.codegen import isolation
from chimera_engine.codegen.patchformat import materialise, parse_answer
from chimera_engine.codegen.risk import assess
from chimera_engine.codegen.sandbox import PatchTester

from .test_sandbox import CASES, bench

KERNEL = isolation.probe()
needs_kernel = pytest.mark.skipif(
    not KERNEL.kernel or bool(KERNEL.missing), reason=f"no kernel isolation: {KERNEL.explain()}"
)
KERNEL_ONLY = dataclasses.replace(bench.LIMITS, guards=False, wall_seconds=20)

ATTACKS = [
    "bad_15_fork_bomb",
    "bad_17_socket_outside",
    "bad_20_read_etc_shadow",
    "bad_22_write_tmp",
    "bad_29_unguarded_child_process",
    "bad_35_orphan_process",
    "bad_38_hook_forges_failures",
    "bad_39_forged_report_and_sigkill",
    "bad_40_sigkill_before_only",
    "bad_41_rewrites_tests_at_import",
    "bad_42_setsid_children_outlive",
    "bad_43_fork_bomb_as_root",
    "bad_44_kill_the_parent",
    "bad_45_host_unix_socket",
    "bad_46_stat_host_paths",
    "bad_47_parent_environ",
    "bad_48_read_secret_key",
    "bad_49_module_forges_trusted_report",
]


def _sandbox_processes(uids: list[int]) -> list[str]:
    """Host processes running as one of the phases' users (there must be none left)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid in uids:
                found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()!r}")
    return found


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    copy = tmp_path / "workspace"
    shutil.copytree(bench.WORKSPACE, copy, ignore=bench.IGNORED)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret.key").write_bytes(b"engine-secret")
    return copy


@pytest.fixture
def host_listener() -> Iterator[socket.socket]:
    """An abstract unix socket of the host, as the attack in bad_45 names it."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind("\0chimera-host-agent")
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def _content(case_name: str, workspace: Path):  # type: ignore[no-untyped-def]
    case = CASES[case_name]
    return materialise(
        parse_answer(case.answer),
        {case.path: (workspace / case.path).read_text()},
        allowed={case.path},
        existing_tests=bench.existing_tests(workspace),
    )


@needs_kernel
@pytest.mark.parametrize("name", ATTACKS)
async def test_kernel_layers_alone_hold(
    name: str, workspace: Path, host_listener: socket.socket
) -> None:
    case = CASES[name]
    bystander = subprocess.Popen(["sleep", "60"])  # noqa: ASYNC220
    snapshot = bench.snapshot(workspace)
    try:
        content = _content(name, workspace)
        result = await PatchTester(workspace, KERNEL_ONLY).test(content, case.module)
        risk, _ = assess(content.diff, content.tests)
        assert not result.ok or risk == "high", (result.reason, risk)
        assert "bwrap" in result.layers and "pidns" in result.layers, result
        assert not result.reduced
        if KERNEL.as_root:  # each phase ran as its own host user: none of them is left
            assert len(result.sandbox_uids) == 3 or not result.ok, result.sandbox_uids
            assert _sandbox_processes(result.sandbox_uids) == []
        assert bystander.poll() is None, "a host process was signalled"
        with pytest.raises(BlockingIOError):
            host_listener.accept()
        assert bench.snapshot(workspace) == snapshot
    finally:
        bystander.kill()
        bystander.wait()


@needs_kernel
async def test_verdict_is_the_parents(workspace: Path) -> None:
    """A killed *before* run is a failure, and a forged report changes nothing."""
    result = await PatchTester(workspace, KERNEL_ONLY).test(
        _content("bad_40_sigkill_before_only", workspace), "mathy"
    )
    assert not result.ok
    assert "the run without the patch was killed by signal 9" in result.reason
    forged = await PatchTester(workspace, KERNEL_ONLY).test(
        _content("bad_39_forged_report_and_sigkill", workspace), "mathy"
    )
    assert not forged.ok
    hooked = await PatchTester(workspace, KERNEL_ONLY).test(
        _content("bad_38_hook_forges_failures", workspace), "mathy"
    )
    assert not hooked.ok


async def test_refused_without_bwrap(workspace: Path) -> None:
    limits = dataclasses.replace(bench.LIMITS, bwrap="/nonexistent/bwrap")
    result = await PatchTester(workspace, limits).test(
        _content("good_01_ratio_zero", workspace), "mathy"
    )
    assert not result.ok and result.reduced
    assert "no kernel isolation" in result.reason
    assert "apt-get install bubblewrap" in result.reason
    assert "bwrap" in result.missing


@needs_kernel
async def test_refused_without_landlock_unless_reduced(workspace: Path) -> None:
    limits = dataclasses.replace(bench.LIMITS, landlock=False)
    content = _content("good_01_ratio_zero", workspace)
    refused = await PatchTester(workspace, limits).test(content, "mathy")
    assert not refused.ok and "landlock" in refused.reason
    reduced = dataclasses.replace(limits, sandbox="reduced")
    flagged = await PatchTester(workspace, reduced).test(content, "mathy")
    assert flagged.ok and flagged.reduced and flagged.missing == ["landlock"]
    assert "bwrap" in flagged.layers


@pytest.mark.parametrize(
    "name",
    ["good_01_ratio_zero", "bad_39_forged_report_and_sigkill", "bad_41_rewrites_tests_at_import"],
)
async def test_reduced_without_bwrap_is_flagged(name: str, workspace: Path) -> None:
    limits = dataclasses.replace(
        KERNEL_ONLY, bwrap="/nonexistent/bwrap", sandbox="reduced", wall_seconds=20
    )
    result = await PatchTester(workspace, limits).test(_content(name, workspace), "mathy")
    assert result.reduced and "bwrap" in result.missing
    assert result.ok is CASES[name].expect.startswith("accepted")
