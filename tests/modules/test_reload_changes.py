"""Hot reload against the ways people really change files, with the real watcher.

Each test writes real files into a real workspace while the engine's watchdog
observer runs: a write in two steps, a ``git checkout`` (a real repository),
temporary and copied files, imports that never end, and deleted modules.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.events import ModuleFileDeleted
from chimera_engine.modules.models import VersionState
from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal
from chimera_engine.store.records import AuditEntry
from tests.conftest import GREETER_V1, write_module

SYSTEM = Principal.system("test")


def make_node(data: Path, workspace: Path, **env: str) -> HeartNode:
    settings = load_settings(
        data_dir=data,
        workspace=workspace,
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_DEMO__ENABLED": "false", **env},
        use_default_file=False,
    )
    return HeartNode(settings)


@pytest.fixture
async def node(tmp_path: Path, workspace: Path) -> AsyncIterator[HeartNode]:
    engine = make_node(tmp_path / "data", workspace)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def greet(node: HeartNode) -> object:
    return await node.runtime.call("greet", {"name": "ada"}, SYSTEM)


def versions(node: HeartNode, module: str) -> list[int]:
    return [mv.version for mv in node.reload.registry.versions(module)]


async def audit_entries(node: HeartNode, prefix: str) -> list[AuditEntry]:
    """The entries once some are committed (the audit is written after the switch)."""
    for _ in range(100):
        await node.security.audit.flush()
        entries = await node.security.audit.query(AuditQuery(action_prefix=prefix))
        if entries:
            await asyncio.sleep(0.2)
            return await node.security.audit.query(AuditQuery(action_prefix=prefix))
        await asyncio.sleep(0.05)
    return []


# -- settle before load ------------------------------------------------------------------------
HEAD = GREETER_V1.split("def greet")[0]
SIGNATURE = 'def greet(name: str, punctuation: str = "!") -> str:\n    """Say hello."""\n'


async def test_a_write_in_two_steps_never_serves_the_first_half(
    node: HeartNode, workspace: Path
) -> None:
    # the first half compiles and keeps the signature, but greet() would answer None
    first, second = HEAD + SIGNATURE, '    return f"two-step {name}"\n'
    answers: list[object] = []
    stop = asyncio.Event()

    async def caller() -> None:
        while not stop.is_set():
            answers.append(await greet(node))
            await asyncio.sleep(0.005)

    calls = asyncio.create_task(caller())
    path = workspace / "tools" / "greeter.py"
    with path.open("w") as fh:  # one writer, two writes 300 ms apart
        fh.write(first)
        fh.flush()
        await asyncio.sleep(0.3)
        fh.write(second)
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 2)
    await asyncio.sleep(0.2)
    stop.set()
    await calls
    assert None not in answers and answers[-1] == "two-step ada"
    assert set(answers) == {"hello ada!", "two-step ada"}
    assert versions(node, "greeter") == [1, 2]


async def test_a_version_replaced_at_once_is_no_rollback_target(
    node: HeartNode, workspace: Path
) -> None:
    # two separate saves: the first loads, but it never served well
    await asyncio.sleep(1.1)  # v1 has served long enough to be trusted
    write_module(workspace, "greeter", HEAD + SIGNATURE)
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 2)
    write_module(workspace, "greeter", HEAD + SIGNATURE + '    return f"v3 {name}"\n')
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 3)
    registry = node.reload.registry
    assert registry.get("greeter", 2).verdict.startswith("unproven: replaced after")
    assert registry.get("greeter", 1).verdict == "good"  # it served since the start
    rolled = await node.reload.rollback("greeter", SYSTEM)
    assert rolled.ok and registry.get("greeter", rolled.version or 0).parent == 1
    assert await greet(node) == "hello ada!"


async def test_a_version_with_failed_calls_is_no_rollback_target(
    tmp_path: Path, workspace: Path
) -> None:
    engine = make_node(tmp_path / "data", workspace, CHIMERA_TOOLS__TRUST_AFTER="0")
    async with engine:
        reload = engine.reload
        flaky = GREETER_V1.replace('return f"hello', 'raise ValueError("no")\n    return f"hello')
        assert (await reload.reload_module("greeter", source=flaky, principal=SYSTEM)).ok
        with pytest.raises(Exception, match="no"):
            await greet(engine)
        assert (
            await reload.reload_module("greeter", source=GREETER_V1 + "#3\n", principal=SYSTEM)
        ).ok
        assert reload.registry.get("greeter", 2).verdict == "bad: 1 failed call(s) of 1"
        rolled = await reload.rollback("greeter", SYSTEM)
        assert rolled.ok and reload.registry.get("greeter", rolled.version or 0).parent == 1


async def test_start_up_probes_every_new_file_in_one_child(tmp_path: Path, workspace: Path) -> None:
    for name in ("one", "two", "three"):
        write_module(workspace, name, tool_module(f"t_{name}", name))
    async with make_node(tmp_path / "data", workspace) as engine:
        assert sorted(engine.reload.registry.active) == ["greeter", "one", "three", "two"]
        assert engine.reload.prober.probes == 1


# -- change sets -----------------------------------------------------------------------------
def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def tool_module(tool: str, marker: str, imports: str = "", body: str = "") -> str:
    return (
        f"from chimera_engine.tooling import tool\n{imports}\n\n"
        f'@tool(name="{tool}")\ndef {tool}() -> str:\n    return {body or repr(marker)}\n'
    )


async def test_git_checkout_of_several_files_with_a_new_sibling_is_one_change_set(
    tmp_path: Path,
) -> None:
    ws = tmp_path / "repo"
    tools = ws / "tools"
    tools.mkdir(parents=True)
    (tools / "common.py").write_text("MARK = 'main'\n")
    for name in ("alpha", "beta", "gamma", "delta"):
        (tools / f"{name}.py").write_text(
            tool_module(f"t_{name}", "", "from .common import MARK", "MARK")
        )
    git(ws, "init", "-q", "-b", "main")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "main")
    git(ws, "checkout", "-qb", "feature")
    (tools / "common.py").write_text("MARK = 'feature'\n")
    (tools / "helpers.py").write_text("def shout(s: str) -> str:\n    return s.upper()\n")
    for name in ("alpha", "beta", "gamma"):
        (tools / f"{name}.py").write_text(
            tool_module(
                f"t_{name}",
                "",
                "from .common import MARK\nfrom .helpers import shout",
                "shout(MARK)",
            )
        )
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "feature")
    git(ws, "checkout", "-q", "main")

    engine = make_node(tmp_path / "data", ws)
    async with engine:
        registry = engine.reload.registry
        assert await engine.runtime.call("t_alpha", {}, SYSTEM) == "main"
        answers: set[object] = set()
        snapshots: set[tuple[int, ...]] = set()
        stop = asyncio.Event()
        changed = ("alpha", "beta", "common", "gamma")

        async def caller() -> None:
            while not stop.is_set():
                # what serves, read in one step: old and new modules never mix
                snapshots.add(tuple(registry.active[n].version for n in changed))
                answers.add(await engine.runtime.call("t_alpha", {}, SYSTEM))
                await asyncio.sleep(0)

        calls = asyncio.create_task(caller())
        await asyncio.get_running_loop().run_in_executor(None, git, ws, "checkout", "-q", "feature")
        await wait_for(lambda: "helpers" in registry.active, 10)
        await asyncio.sleep(0.1)
        stop.set()
        await calls
        assert snapshots == {(1, 1, 1, 1), (2, 2, 2, 2)}
        assert answers == {"main", "FEATURE"}  # never old alpha with new common
        assert {n: registry.active[n].version for n in ("alpha", "beta", "gamma")} == {
            "alpha": 2,
            "beta": 2,
            "gamma": 2,
        }
        assert registry.active["delta"].origin.value == "dependency"  # rebuilt with common
        failed = [mv.label for v in registry.history.values() for mv in v if mv.error]
        assert failed == []
        sets = await audit_entries(engine, "tool.changeset")
        assert len(sets) == 1 and sets[0].outcome == "ok"
        assert {m for m, _ in sets[0].detail["switched"]} == {
            "alpha",
            "beta",
            "common",
            "delta",
            "gamma",
            "helpers",
        }

        # back to main: helpers.py disappears (a pending deletion), the rest switches back
        deleted = engine.bus.subscribe(ModuleFileDeleted)
        await asyncio.get_running_loop().run_in_executor(None, git, ws, "checkout", "-q", "main")
        event = await asyncio.wait_for(deleted.get(), 5)
        assert isinstance(event, ModuleFileDeleted) and event.module == "helpers"
        await wait_for(lambda: registry.active["alpha"].version == 3)
        assert await engine.runtime.call("t_alpha", {}, SYSTEM) == "main"
        assert "helpers" in engine.reload.pending_deletions


async def test_a_module_refused_for_a_missing_import_is_retried_when_it_appears(
    node: HeartNode, workspace: Path
) -> None:
    registry = node.reload.registry
    write_module(workspace, "report", tool_module("report", "", "from .later import X", "X"))
    await wait_for(lambda: "report" in registry.history and registry.history["report"][-1].error)
    assert "report" not in registry.active
    assert "ModuleNotFoundError" in registry.history["report"][-1].error
    assert node.reload.changes.waiting == {"report": "later"}
    write_module(workspace, "later", "X = 'now here'\n")
    await wait_for(lambda: "report" in registry.active)
    assert await node.runtime.call("report", {}, SYSTEM) == "now here"
    await wait_for(lambda: node.reload.changes.waiting == {})  # forgotten once its set has settled


async def test_a_module_waiting_for_an_import_loads_at_the_next_start(
    tmp_path: Path, workspace: Path
) -> None:
    data = tmp_path / "data"
    async with make_node(data, workspace) as engine:
        write_module(workspace, "report", tool_module("report", "", "from .later import X", "X"))
        await wait_for(lambda: "report" in engine.reload.changes.waiting)
    write_module(workspace, "later", "X = 'after a restart'\n")  # while nothing watches
    async with make_node(data, workspace) as engine:
        assert await engine.runtime.call("report", {}, SYSTEM) == "after a restart"
        assert engine.status().startup_problems == ()


async def test_a_refused_set_switches_nothing_and_says_why(
    node: HeartNode, workspace: Path
) -> None:
    from chimera_engine.events import ModuleReloaded

    reloaded = node.bus.subscribe(ModuleReloaded)
    tools = workspace / "tools"
    (tools / "greeter.py").write_text(GREETER_V1.replace("hello", "hey"))
    (tools / "broken.py").write_text("raise RuntimeError('config missing')\n")
    results = {}
    while len(results) < 2:
        event = await asyncio.wait_for(reloaded.get(), 5)
        assert isinstance(event, ModuleReloaded)
        results[event.result.module] = event.result
    assert not results["greeter"].ok and "change set refused" in results["greeter"].reason
    assert "broken: RuntimeError: config missing" in results["greeter"].reason
    assert await greet(node) == "hello ada!"
    # fixing the broken module brings the held one with it
    (tools / "broken.py").write_text("X = 1\n")
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 2)
    assert await greet(node) == "hey ada!" and "broken" in node.reload.registry.active


# -- what is not a module --------------------------------------------------------------------
async def test_temporary_copied_and_editor_files_are_never_imported(
    node: HeartNode, workspace: Path
) -> None:
    tools = workspace / "tools"
    extra = tool_module("fresh", "fresh")
    for name in (
        "copy of greeter.py",
        "greeter (1).py",
        "greeter_copy.py",
        "greeter_copy2.py",
        ".#greeter.py",
        "#greeter.py#",
        "greeter.py.orig",
        "greeter.py.swp",
        "greeter.bak.py",
        "tmp3k9x_l2a.py",
    ):
        (tools / name).write_text(GREETER_V1.replace("greet", "greet2"))
    (tools / "sub").mkdir()
    (tools / "sub" / "inner.py").write_text(extra)
    (workspace / "outside.py").write_text(extra)
    # a temporary file with an ordinary name, written and renamed within 300 ms
    scratch = tools / "scratch.py"
    scratch.write_text(extra)
    await asyncio.sleep(0.3)
    os.replace(scratch, tools / "fresh.py")
    registry = node.reload.registry
    await wait_for(lambda: "fresh" in registry.active)
    await asyncio.sleep(0.6)
    assert sorted(registry.history) == ["fresh", "greeter"]
    assert await node.runtime.call("fresh", {}, SYSTEM) == "fresh"


# -- imports that never end ------------------------------------------------------------------
def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def _probe_children() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"chimera_engine.modules.import_probe" in cmd:
            found.append(int(proc.name))
    return found


async def _cpu_and_lag(seconds: float) -> tuple[float, float]:
    """This process's CPU seconds and the loop's median lag (ms) over ``seconds``
    (the median, because the machine running the tests may be busy)."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    end = loop.time() + seconds
    while loop.time() < end:
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append((time.perf_counter() - t - 0.01) * 1e3)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, sorted(lags)[len(lags) // 2]


@pytest.mark.parametrize("body", ["while True:\n    pass\n", "import time\ntime.sleep(60)\n"])
async def test_an_import_that_never_ends_is_stopped_and_leaks_nothing(
    node: HeartNode, workspace: Path, body: str
) -> None:
    node.reload.import_timeout = 1.0
    threads = _threads()
    _, lag_before = await _cpu_and_lag(0.5)
    write_module(workspace, "stuck", body + tool_module("stuck", "x"))
    await asyncio.sleep(1.2)  # the probe has started (a new module settles for 1 s)
    # another module's save goes live meanwhile
    started = time.perf_counter()
    write_module(workspace, "greeter", GREETER_V1.replace("hello", "meanwhile"))
    registry = node.reload.registry
    await wait_for(lambda: registry.active["greeter"].version == 2, 3)
    assert time.perf_counter() - started < 0.9
    assert "stuck" not in registry.history or not registry.history["stuck"][-1].error
    await wait_for(lambda: "stuck" in registry.history, 3)
    stuck = registry.history["stuck"][-1]
    assert stuck.state is VersionState.FAILED and "did not finish loading within 1 s" in stuck.error
    assert "stuck" not in registry.active
    cpu, lag = await _cpu_and_lag(1.0)
    assert cpu < 0.5, f"the engine still burns CPU: {cpu:.2f} s in 1 s"
    assert lag < max(5.0, 3 * lag_before), f"loop lag {lag:.1f} ms, {lag_before:.1f} before"
    assert not [t for t in _threads() - threads if t.startswith("chimera-load")]
    probes = _probe_children()
    assert len(probes) <= 1  # only the warm spare is left


# -- deletions -------------------------------------------------------------------------------
async def test_a_deleted_module_keeps_serving_and_a_restart_does_not_resurrect_it(
    tmp_path: Path, workspace: Path
) -> None:
    data = tmp_path / "data"
    engine = make_node(data, workspace)
    async with engine:
        deleted = engine.bus.subscribe(ModuleFileDeleted)
        (workspace / "tools" / "greeter.py").unlink()
        await asyncio.wait_for(deleted.get(), 5)
        assert await greet(engine) == "hello ada!"
        assert engine.status().pending_deletions == (
            "greeter.py was deleted; v1 keeps serving until an operator removes the module "
            "or restores its file",
        )
    engine = make_node(data, workspace)
    async with engine:  # still serving, and the engine says so
        assert await greet(engine) == "hello ada!"
        assert any("greeter.py was deleted" in p for p in engine.status().startup_problems)
        assert engine.reload.describe_deletions("greeter")[0]["state"] == "pending"
        await engine.reload.decide_deletion("greeter", "remove", SYSTEM)
        assert "greet" not in engine.reload.registry.active_tools()
        assert engine.status().pending_deletions == ()
    engine = make_node(data, workspace)
    async with engine:  # removed stays removed
        assert "greeter" not in engine.reload.registry.active
        assert engine.status().startup_problems == ()
        assert [d["state"] for d in engine.reload.describe_deletions("greeter")] == ["removed"]
        entries = await audit_entries(engine, "tool.remove")
        assert entries and entries[0].actor == "system:test"


async def test_restoring_a_deleted_file_from_the_serving_version(
    node: HeartNode, workspace: Path
) -> None:
    path = workspace / "tools" / "greeter.py"
    path.unlink()
    await wait_for(lambda: "greeter" in node.reload.pending_deletions)
    from chimera_engine.errors import NotFoundError, ValidationError

    with pytest.raises(ValidationError, match="unknown decision"):
        await node.reload.decide_deletion("greeter", "shrug", SYSTEM)
    with pytest.raises(NotFoundError):
        await node.reload.decide_deletion("nobody", "remove", SYSTEM)
    await node.reload.decide_deletion("greeter", "restore", SYSTEM)
    assert path.read_text() == GREETER_V1
    await asyncio.sleep(0.3)
    assert versions(node, "greeter") == [1]  # the restored file is the serving version
    assert node.reload.pending_deletions == {}
