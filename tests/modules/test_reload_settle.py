"""Settle windows and version judgement against real writers, with the real watcher.

A writer that closes the file between two steps, temporary files with ordinary
module names, and calls whose caller went away.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from chimera_engine.modules.models import VersionState
from chimera_engine.modules.suspect import incomplete
from chimera_engine.node import HeartNode
from chimera_engine.patches.watch import Baseline, WatchPolicy, watch
from tests.conftest import GREETER_V1, write_module
from tests.modules.test_reload_changes import (
    SYSTEM,
    _cpu_and_lag,
    _threads,
    audit_entries,
    greet,
    make_node,
    node,
    tool_module,
    versions,
    wait_for,
)

__all__ = ["node"]  # the fixture, shared with the other reload tests

HEAD = GREETER_V1.split("@tool")[0]
GREET = '@tool(name="greet", description="Say hello")\n'
SIGNATURE = 'def greet(name: str, punctuation: str = "!") -> str:\n    """Say hello."""\n'
FAREWELL = (
    '\n@tool(name="farewell", description="Say goodbye")\n'
    "def farewell(name: str) -> str:\n"
    '    return f"bye {name}"\n'
)
RETURN = '    return f"two-step {name}"\n'
# each pair: a first step that compiles (and would serve something wrong), then the rest
STEPS = {
    # cut inside greet(): every tool is there, but greet() would answer None
    "inside a def": (HEAD + FAREWELL + GREET + SIGNATURE, RETURN),
    # cut before greet(): a tool the serving version offers is gone
    "a tool dropped": (HEAD + FAREWELL, GREET + SIGNATURE + RETURN),
    # only the imports so far: most of the file is missing
    "most of the file": (HEAD, FAREWELL + GREET + SIGNATURE + RETURN),
}


@pytest.mark.parametrize("case", sorted(STEPS))
async def test_a_writer_that_closes_between_two_steps_is_never_served_half_written(
    node: HeartNode, workspace: Path, case: str
) -> None:
    path = workspace / "tools" / "greeter.py"
    path.write_text(GREETER_V1 + FAREWELL)
    await wait_for(lambda: "farewell" in node.reload.registry.active_tools())
    first, rest = STEPS[case]
    answers: list[object] = []
    stop = asyncio.Event()

    async def caller() -> None:
        while not stop.is_set():
            answers.append(await greet(node))
            answers.append(await node.runtime.call("farewell", {"name": "ada"}, SYSTEM))
            await asyncio.sleep(0.005)

    calls = asyncio.create_task(caller())
    with path.open("w") as fh:  # step one: write and close
        fh.write(first)
    await asyncio.sleep(0.2)
    with path.open("a") as fh:  # step two, 200 ms later
        fh.write(rest)
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 3)
    await asyncio.sleep(0.1)
    stop.set()
    await calls
    # the calls during the gap were answered by the serving version, never the half
    assert set(answers) == {"hello ada!", "two-step ada", "bye ada"}
    assert answers[-2] == "two-step ada"
    assert versions(node, "greeter") == [1, 2, 3]  # no refused half, nothing in between
    assert all(
        mv.state is not VersionState.FAILED for mv in node.reload.registry.versions("greeter")
    )


async def test_an_ordinary_save_keeps_the_short_window(node: HeartNode, workspace: Path) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    write_module(workspace, "greeter", GREETER_V1.replace("hello", "hi"))
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 2)
    assert loop.time() - started < 0.8  # not the 1 s window of a suspicious change
    assert await greet(node) == "hi ada!"


async def test_a_suspicious_save_that_stays_loads_after_the_longer_window(
    node: HeartNode, workspace: Path
) -> None:
    # a real edit that deletes most of the file is served after ~1 s, not never
    write_module(workspace, "greeter", GREETER_V1 + "# notes\n" * 40)
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    write_module(workspace, "greeter", GREETER_V1.replace("hello", "short"))
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 3, 4)
    assert loop.time() - started >= 0.95
    assert await greet(node) == "short ada!"


def test_what_looks_incomplete() -> None:
    old = GREETER_V1 + FAREWELL
    tools = ["greet", "farewell"]
    assert incomplete(old.replace("hello", "hi"), old, tools) == ""
    assert incomplete(old + "\n# more\n", old, tools) == ""
    assert "parse" in incomplete(old[:-8], old, tools)
    assert "lost its body" in incomplete(HEAD + GREET + SIGNATURE + FAREWELL, old, tools)
    assert "farewell()" in incomplete(GREETER_V1 + "\n\n\n# " + "x" * 80 + "\n", old, tools)
    assert "shrank" in incomplete(HEAD, old, tools)
    assert "middle of a line" in incomplete(old.rstrip("\n") + "\nX = 1", old, tools)


# -- temporary files with ordinary module names -------------------------------------------
@pytest.mark.parametrize(("after", "how"), [(0.5, "rename"), (0.85, "delete"), (0.85, "rename")])
async def test_a_temporary_file_with_a_module_name_is_never_imported(
    node: HeartNode, workspace: Path, after: float, how: str
) -> None:
    tools = workspace / "tools"
    probes = node.reload.prober.probes
    report = tools / "report.py"
    report.write_text(tool_module("report", "draft"))
    await asyncio.sleep(after)
    if how == "rename":
        os.replace(report, workspace / "report-final.txt")
    else:
        report.unlink()
    write_module(workspace, "greeter", GREETER_V1.replace("hello", "hey"))  # life goes on
    await wait_for(lambda: node.reload.registry.active["greeter"].version == 2)
    await asyncio.sleep(0.5)
    assert sorted(node.reload.registry.history) == ["greeter"]
    assert node.reload.prober.probes == probes + 1  # only greeter's save ran a probe


async def test_a_new_module_that_stays_loads_after_its_window(
    node: HeartNode, workspace: Path
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    write_module(workspace, "report", tool_module("report", "final"))
    await wait_for(lambda: "report" in node.reload.registry.active, 4)
    assert loop.time() - started >= 0.95
    assert await node.runtime.call("report", {}, SYSTEM) == "final"


# -- cancelled calls are no failures -----------------------------------------------------
SLOW = """
import asyncio
from chimera_engine.tooling import tool

@tool(name="slow")
async def slow(seconds: float = 5.0) -> str:
    await asyncio.sleep(seconds)
    return "done {marker}"
"""


async def test_cancelled_calls_do_not_count_against_a_version(
    tmp_path: Path, workspace: Path
) -> None:
    write_module(workspace, "slow", SLOW.format(marker="v1"))
    engine = make_node(tmp_path / "data", workspace, CHIMERA_TOOLS__TRUST_AFTER="0.3")
    async with engine:
        runtime, registry = engine.runtime, engine.reload.registry
        gone = [asyncio.create_task(runtime.call("slow", {}, SYSTEM)) for _ in range(3)]
        await asyncio.sleep(0.1)
        for call in gone:  # the clients went away
            call.cancel()
        await asyncio.gather(*gone, return_exceptions=True)
        assert await runtime.call("slow", {"seconds": 0.01}, SYSTEM) == "done v1"
        v1 = registry.active["slow"]
        assert (v1.calls, v1.errors, runtime.failures) == (4, 0, 0)
        await asyncio.sleep(0.4)
        write_module(workspace, "slow", SLOW.format(marker="v2"))
        await wait_for(lambda: registry.active["slow"].version == 2)
        assert registry.get("slow", 1).verdict == "good"
        rolled = await engine.reload.rollback("slow", SYSTEM)
        assert rolled.ok and registry.get("slow", rolled.version or 0).parent == 1


# -- an import that hangs only in the engine ---------------------------------------------
SECOND_TIME = """
import os
import time
from chimera_engine.tooling import tool

MARK = {mark!r}
if os.path.exists(MARK):  # the child process ran first and left this behind
    {hang}
open(MARK, "w").close()

@tool(name="twice")
def twice() -> str:
    return "ok"
"""


@pytest.mark.parametrize(
    ("hang", "outcome"),
    [("while True:\n        pass", "was stopped"), ("time.sleep(2.5)", "could not be stopped")],
)
async def test_an_import_that_hangs_only_in_the_engine_is_refused_and_stopped(
    node: HeartNode,
    workspace: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    hang: str,
    outcome: str,
) -> None:
    mark = tmp_path / "imported-once"
    threads = _threads()
    registry = node.reload.registry
    write_module(workspace, "twice", SECOND_TIME.format(mark=str(mark), hang=hang))
    await wait_for(mark.exists, 5)  # the probe imported it cleanly
    started = time.perf_counter()
    write_module(workspace, "greeter", GREETER_V1.replace("hello", "meanwhile"))
    await wait_for(lambda: registry.active["greeter"].version == 2, 5)
    # held at most by the in-engine budget (1 s), not by the 5 s import timeout
    assert time.perf_counter() - started < 1.8
    await wait_for(lambda: "twice" in registry.history, 5)
    twice = registry.history["twice"][-1]
    assert twice.state is VersionState.FAILED and "twice" not in registry.active
    assert "did not finish loading in the engine within 1 s" in twice.error
    assert "after its import in a child process had finished" in twice.error
    assert outcome in twice.error
    assert "import refused: twice v1 did not finish loading in the engine" in caplog.text
    assert await greet(node) == "meanwhile ada!"
    if outcome == "was stopped":
        cpu, _lag = await _cpu_and_lag(1.0)
        assert cpu < 0.5, f"the engine still burns CPU: {cpu:.2f} s in 1 s"
    else:  # blocked in C: it ends when the sleep returns, and says so
        await wait_for(lambda: "the abandoned import of twice" in caplog.text, 5)
    assert not [t for t in _threads() - threads if t.startswith("chimera-load")]
    entries = await audit_entries(node, "tool.reload")
    assert any(e.target == "twice" and e.outcome == "error" for e in entries)


async def test_the_watch_after_a_patch_ignores_cancelled_calls(
    tmp_path: Path, workspace: Path
) -> None:
    write_module(workspace, "slow", SLOW.format(marker="v1"))
    async with make_node(tmp_path / "data", workspace) as engine:
        runtime = engine.runtime
        policy = WatchPolicy(seconds=1.0, min_calls=3, error_margin=0.05)
        judging = asyncio.create_task(
            watch(engine.bus, "slow", 1, Baseline(calls=10, errors=0, latency_s=0.01), policy)
        )
        gone = [asyncio.create_task(runtime.call("slow", {}, SYSTEM)) for _ in range(4)]
        await asyncio.sleep(0.1)
        for call in gone:
            call.cancel()
        await asyncio.gather(*gone, return_exceptions=True)
        for _ in range(3):
            assert await runtime.call("slow", {"seconds": 0.001}, SYSTEM) == "done v1"
        verdict = await judging
        assert verdict.keep and verdict.calls == 3 and verdict.error_rate == 0.0
