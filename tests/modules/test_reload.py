"""Hot reload: versions, switching, draining, state, and every bad input."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.events import ModuleFileDeleted, ModuleReloaded, ToolCallCompleted
from chimera_engine.modules.models import Origin, VersionState
from chimera_engine.node import HeartNode
from chimera_engine.runtime import ToolCallError, ToolTimeoutError
from chimera_engine.security.principal import Principal
from tests.conftest import GREETER_V1, write_module

SYSTEM = Principal.system("test")


def greeter(version: int, body: str = 'f"hello {name}{punctuation}"', extra: str = "") -> str:
    return (
        GREETER_V1.replace("VERSION = 1", f"VERSION = {version}").replace(
            'f"hello {name}{punctuation}"', body
        )
        + extra
    )


async def reload(node: HeartNode, source: str, **kw: object):  # type: ignore[no-untyped-def]
    return await node.reload.reload_module("greeter", source=source, principal=SYSTEM, **kw)


async def call(node: HeartNode, name: str = "ada", **kw: object) -> object:
    return await node.runtime.call("greet", {"name": name}, SYSTEM, **kw)  # type: ignore[arg-type]


async def test_module_reloading(ws_node: HeartNode, workspace: Path) -> None:
    assert await call(ws_node) == "hello ada!"
    events = ws_node.bus.subscribe(ModuleReloaded)
    result = await reload(ws_node, greeter(2, 'f"hi {name}{punctuation}"'))
    assert result.ok and result.version == 2 and result.previous == 1
    assert await call(ws_node) == "hi ada!"
    event = await asyncio.wait_for(events.get(), 1)
    assert isinstance(event, ModuleReloaded) and event.result.version == 2
    entries = await ws_node.security.audit.query(AuditQuery(action_prefix="tool.reload"))
    assert entries[0].detail["version"] == 2 and entries[0].outcome == "ok"


async def test_version_management(ws_node: HeartNode) -> None:
    await reload(ws_node, greeter(2, 'f"v2 {name}"'))
    await reload(ws_node, greeter(3, 'f"v3 {name}"'))
    registry = ws_node.reload.registry
    assert [mv.version for mv in registry.versions("greeter")] == [1, 2, 3]
    assert registry.active["greeter"].version == 3

    # activate an older version again
    result = await ws_node.reload.activate("greeter", 1, SYSTEM)
    assert result.ok
    assert await call(ws_node) == "hello ada!"

    # deprecate v2: still callable by explicit version, flagged in the call record
    await ws_node.reload.activate("greeter", 2, SYSTEM)
    await ws_node.reload.activate("greeter", 3, SYSTEM)
    await ws_node.reload.set_state("greeter", 2, VersionState.DEPRECATED, SYSTEM)
    records = ws_node.bus.subscribe(ToolCallCompleted)
    assert await call(ws_node, version=2) == "v2 ada"
    record = (await records.get()).record  # type: ignore[attr-defined]
    assert record.deprecated and record.version == 2

    # retire v1: never callable, cannot be activated
    await ws_node.reload.set_state("greeter", 1, VersionState.RETIRED, SYSTEM)
    with pytest.raises(ValidationError, match="retired"):
        await call(ws_node, version=1)
    assert not (await ws_node.reload.activate("greeter", 1, SYSTEM)).ok
    with pytest.raises(ValidationError, match="is active"):
        await ws_node.reload.set_state("greeter", 3, VersionState.DEPRECATED, SYSTEM)

    # rollback: a new version whose source is the previous good one
    rolled = await ws_node.reload.rollback("greeter", SYSTEM)
    assert rolled.ok and rolled.origin is Origin.ROLLBACK and rolled.version == 4
    assert registry.get("greeter", 4).parent == 2
    assert await call(ws_node) == "v2 ada"


async def test_version_switch_is_atomic_and_fast(ws_node: HeartNode) -> None:
    await reload(ws_node, greeter(2))
    registry = ws_node.reload.registry
    v1, v2 = registry.get("greeter", 1), registry.get("greeter", 2)
    assert registry.resolve("greet")[1] is v2
    switches = registry.switches
    await ws_node.reload.activate("greeter", 1, SYSTEM)
    assert registry.resolve("greet")[1] is v1
    assert v2.loaded is None  # superseded and idle: released
    await ws_node.reload.activate("greeter", 2, SYSTEM)  # loaded again into a fresh module
    assert registry.resolve("greet")[1] is v2
    assert registry.switches == switches + 2


async def test_state_preservation(ws_node: HeartNode) -> None:
    counter = """
from chimera_engine.tooling import tool
COUNT = {"n": 0}
def __chimera_state__():
    return {"n": COUNT["n"]}
def __chimera_restore__(state):
    COUNT["n"] = state["n"]
@tool(name="bump")
def bump() -> int:
    COUNT["n"] += 1
    return COUNT["n"]
"""
    r = await ws_node.reload.reload_module("counter", source=counter, principal=SYSTEM)
    assert r.ok
    for _ in range(3):
        await ws_node.runtime.call("bump", {}, SYSTEM)
    r = await ws_node.reload.reload_module("counter", source=counter + "\n# v2\n", principal=SYSTEM)
    assert r.ok
    assert await ws_node.runtime.call("bump", {}, SYSTEM) == 4

    # a new shape with a migration
    migrated = (
        counter.replace('{"n": COUNT["n"]}', '{"count": COUNT["n"]}').replace(
            'COUNT["n"] = state["n"]', 'COUNT["n"] = state["count"]'
        )
        + """
__chimera_state_version__ = 2
def __chimera_migrate__(old, old_version):
    return {"count": old["n"] * 10}
"""
    )
    r = await ws_node.reload.reload_module("counter", source=migrated, principal=SYSTEM)
    assert r.ok, r.reason
    assert await ws_node.runtime.call("bump", {}, SYSTEM) == 41

    # a restore that fails refuses the reload and leaves the serving state intact
    broken = migrated.replace('COUNT["n"] = state["count"]', 'raise KeyError("nope")')
    r = await ws_node.reload.reload_module("counter", source=broken + "\n#x", principal=SYSTEM)
    assert not r.ok and r.stage == "state"
    assert await ws_node.runtime.call("bump", {}, SYSTEM) == 42


BAD_SOURCES = {
    "syntax_error": ("def greet(:\n", "syntax", "SyntaxError"),
    "import_raises": ("raise RuntimeError('config missing')\n", "import", "config missing"),
    "missing_import": ("import no_such_module_anywhere\n", "import", "ModuleNotFoundError"),
    "signature_change": (
        greeter(2).replace('punctuation: str = "!"', "punctuation: str"),
        "signature",
        "lost its default",
    ),
    "tool_removed": ("x = 1\n", "signature", "'greet' was removed"),
    "half_written": (greeter(2)[: len(greeter(2)) // 2], "syntax", "SyntaxError"),
    "smoke_fails": (
        greeter(2) + "\ndef __chimera_smoke__():\n    assert greet('x') == 'nope'\n",
        "smoke",
        "smoke test failed",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_SOURCES))
async def test_bad_source_keeps_running_version(ws_node: HeartNode, kind: str) -> None:
    source, stage, reason = BAD_SOURCES[kind]
    result = await reload(ws_node, source)
    assert not result.ok
    assert result.stage == stage
    assert reason in result.reason
    assert ws_node.reload.registry.active["greeter"].version == 1
    assert await call(ws_node) == "hello ada!"
    failed = ws_node.reload.registry.get("greeter", result.version or 0)
    assert failed.state is VersionState.FAILED and failed.error
    audit = await ws_node.security.audit.query(AuditQuery(action_prefix="tool.reload"))
    assert audit[0].outcome == "error" and reason in audit[0].detail["reason"]


async def test_forced_signature_change(ws_node: HeartNode) -> None:
    source = greeter(2).replace('punctuation: str = "!"', "punctuation: str")
    result = await reload(ws_node, source, force=True)
    assert result.ok
    with pytest.raises(ValidationError, match="do not match"):
        await call(ws_node)


async def test_hanging_import_times_out(ws_node: HeartNode) -> None:
    ws_node.reload.import_timeout = 0.3
    source = "import time\ntime.sleep(30)\n" + greeter(2)
    result = await reload(ws_node, source)
    assert not result.ok and "did not finish loading within 0.3 s" in result.reason
    assert await call(ws_node) == "hello ada!"


async def test_tool_name_conflict_refused(ws_node: HeartNode) -> None:
    result = await ws_node.reload.reload_module("other", source=greeter(1), principal=SYSTEM)
    assert not result.ok and "already provided by module 'greeter'" in result.reason


async def test_draining_long_call_finishes_on_old_version(ws_node: HeartNode) -> None:
    slow = """
import asyncio
from chimera_engine.tooling import tool
VERSION = {v}
@tool(name="slow")
async def slow(delay: float = 0.0) -> int:
    await asyncio.sleep(delay)
    return VERSION
"""
    assert (
        await ws_node.reload.reload_module("slowmod", source=slow.format(v=1), principal=SYSTEM)
    ).ok
    long_call = asyncio.create_task(ws_node.runtime.call("slow", {"delay": 1.0}, SYSTEM))
    await asyncio.sleep(0.05)
    v1 = ws_node.reload.registry.active["slowmod"]
    assert v1.in_flight == 1
    assert (
        await ws_node.reload.reload_module("slowmod", source=slow.format(v=2), principal=SYSTEM)
    ).ok
    assert await ws_node.runtime.call("slow", {}, SYSTEM) == 2  # new calls: v2
    assert v1.loaded is not None  # kept while draining
    assert await long_call == 1  # the old call finished on v1
    assert v1.loaded is None and v1.in_flight == 0  # released once drained


async def test_persistence_across_restart(ws_node: HeartNode, tmp_path: Path) -> None:
    await reload(ws_node, greeter(2, 'f"v2 {name}"'))
    await reload(ws_node, greeter(3, 'f"v3 {name}"'))
    await ws_node.reload.activate("greeter", 2, SYSTEM)
    settings = ws_node.settings
    await ws_node.stop()
    again = HeartNode(settings)
    await again.start()
    try:
        registry = again.reload.registry
        assert [mv.version for mv in registry.versions("greeter")] == [1, 2, 3]
        assert registry.active["greeter"].version == 2
        assert await call(again) == "v2 ada"
        assert registry.get("greeter", 3).source == greeter(3, 'f"v3 {name}"')
    finally:
        await again.stop()


async def test_restart_falls_back_when_active_fails(ws_node: HeartNode) -> None:
    flaky = greeter(2, 'f"v2 {name}"').replace(
        "VERSION = 2",
        "import os\nVERSION = 2\nassert os.environ.get('GREETER_OK') == '1', 'not ok'",
    )
    os.environ["GREETER_OK"] = "1"
    try:
        assert (await reload(ws_node, flaky)).ok
    finally:
        del os.environ["GREETER_OK"]
    settings = ws_node.settings
    await ws_node.stop()
    again = HeartNode(settings)
    await again.start()
    try:
        registry = again.reload.registry
        assert registry.active["greeter"].version == 1
        assert registry.get("greeter", 2).state is VersionState.FAILED
        assert any("greeter v2" in p for p in again.status().startup_problems)
        entries = await again.security.audit.query(AuditQuery(action_prefix="tool.fallback"))
        assert entries and entries[0].detail["fallback_version"] == 1
    finally:
        await again.stop()


async def test_file_changed_while_stopped_is_loaded_at_start(
    ws_node: HeartNode, workspace: Path
) -> None:
    settings = ws_node.settings
    await ws_node.stop()
    write_module(workspace, "greeter", greeter(2, 'f"offline {name}"'))
    again = HeartNode(settings)
    await again.start()
    try:
        assert await call(again) == "offline ada"
        assert again.reload.registry.active["greeter"].origin is Origin.FILE_CHANGE
    finally:
        await again.stop()


async def test_dependants_are_rebuilt(tmp_path: Path, workspace: Path) -> None:
    write_module(workspace, "helpers", "def shout(s):\n    return s.upper()\n")
    write_module(
        workspace,
        "loud",
        (
            "from chimera_engine.tooling import tool\nfrom .helpers import shout\n"
            "@tool(name='loud')\ndef loud(text: str) -> str:\n    return shout(text)\n"
        ),
    )
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "d2")
    from dataclasses import replace

    settings = replace(settings, engine=replace(settings.engine, workspace=workspace))
    async with HeartNode(settings) as node:
        assert await node.runtime.call("loud", {"text": "hi"}, SYSTEM) == "HI"
        result = await node.reload.reload_module(
            "helpers", source="def shout(s):\n    return s.upper() + '!'\n", principal=SYSTEM
        )
        assert result.ok and result.dependants == ("loud",)
        assert await node.runtime.call("loud", {"text": "hi"}, SYSTEM) == "HI!"
        assert node.reload.registry.active["loud"].origin is Origin.DEPENDENCY
        # a change that breaks a dependant is refused as a whole
        bad = await node.reload.reload_module("helpers", source="x = 1\n", principal=SYSTEM)
        assert not bad.ok and "dependant module 'loud'" in bad.reason
        assert await node.runtime.call("loud", {"text": "hi"}, SYSTEM) == "HI!"


async def test_arguments_checked(ws_node: HeartNode) -> None:
    with pytest.raises(ValidationError, match="do not match"):
        await ws_node.runtime.call("greet", {"nome": "x"}, SYSTEM)
    with pytest.raises(ValidationError, match="must be str, got int"):
        await ws_node.runtime.call("greet", {"name": 3}, SYSTEM)
    with pytest.raises(NotFoundError):
        await ws_node.runtime.call("nope", {}, SYSTEM)


async def test_crashing_and_hanging_tools(ws_node: HeartNode) -> None:
    source = """
import time, asyncio
from chimera_engine.tooling import tool
@tool(name="crash")
def crash(x: int) -> int:
    return 1 // x
@tool(name="hang", timeout=0.2)
async def hang() -> None:
    await asyncio.sleep(10)
@tool(name="hang_sync", timeout=0.2)
def hang_sync() -> None:
    time.sleep(1)
"""
    assert (await ws_node.reload.reload_module("faulty", source=source, principal=SYSTEM)).ok
    with pytest.raises(ToolCallError, match="ZeroDivisionError") as err:
        await ws_node.runtime.call("crash", {"x": 0}, SYSTEM)
    assert err.value.record.outcome == "error"
    assert isinstance(err.value.__cause__, ZeroDivisionError)
    with pytest.raises(ToolTimeoutError):
        await ws_node.runtime.call("hang", {}, SYSTEM)
    with pytest.raises(ToolTimeoutError):
        await ws_node.runtime.call("hang_sync", {}, SYSTEM)
    mv = ws_node.reload.registry.active["faulty"]
    assert mv.errors == 3 and mv.calls == 3


async def test_observer_cannot_call_or_reload(ws_node: HeartNode) -> None:
    from chimera_engine.errors import PermissionDeniedError

    admin = await ws_node.facade.sessions.create_first_admin("admin", "correct horse battery")
    await ws_node.facade.admin.create_user(
        admin.principal, "olga", "correct horse battery", "observer"
    )
    olga = (await ws_node.facade.sessions.login("olga", "correct horse battery")).principal
    with pytest.raises(PermissionDeniedError):
        await ws_node.facade.modules.call_tool(olga, "greet", {"name": "x"})
    with pytest.raises(PermissionDeniedError):
        await ws_node.facade.modules.reload_module(olga, "greeter")
    assert [t.name for t in await ws_node.facade.modules.list_tools(olga)] == ["greet"]
    assert (
        await ws_node.facade.modules.call_tool(admin.principal, "greet", {"name": "x"})
        == "hello x!"
    )


@pytest.mark.parametrize("name", ["../etc/passwd", "a.b", "__init__", "", "x/y"])
async def test_path_traversal_in_module_names(ws_node: HeartNode, name: str) -> None:
    with pytest.raises(ValidationError, match="not a valid tool module name"):
        await ws_node.reload.reload_module(name, principal=SYSTEM)


# -- the watcher ---------------------------------------------------------------------------


async def _wait_for(predicate, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def test_watcher_reloads_saved_file(ws_node: HeartNode, workspace: Path) -> None:
    write_module(workspace, "greeter", greeter(2, 'f"saved {name}"'))
    await _wait_for(lambda: ws_node.reload.registry.active["greeter"].version == 2)
    assert await call(ws_node) == "saved ada"
    assert ws_node.reload.registry.active["greeter"].origin is Origin.FILE_CHANGE


async def test_watcher_debounces_a_burst_of_saves(ws_node: HeartNode, workspace: Path) -> None:
    for i in range(10):
        write_module(workspace, "greeter", greeter(2, f'f"burst{i} {{name}}"'))
    await _wait_for(lambda: ws_node.reload.registry.active["greeter"].version >= 2)
    await asyncio.sleep(0.3)
    assert [mv.version for mv in ws_node.reload.registry.versions("greeter")] == [1, 2]
    assert await call(ws_node) == "burst9 ada"


async def test_watcher_atomic_rename_and_temp_files(ws_node: HeartNode, workspace: Path) -> None:
    tools = workspace / "tools"
    (tools / ".greeter.py.swp").write_text("junk")
    (tools / "greeter.py~").write_text("junk")
    tmp = tools / ".greeter.py.tmp"
    tmp.write_text(greeter(2, 'f"renamed {name}"'))
    os.replace(tmp, tools / "greeter.py")
    await _wait_for(lambda: ws_node.reload.registry.active["greeter"].version == 2)
    assert await call(ws_node) == "renamed ada"
    await asyncio.sleep(0.2)
    assert len(ws_node.reload.registry.versions("greeter")) == 2


async def test_file_deleted_while_in_use_keeps_serving(ws_node: HeartNode, workspace: Path) -> None:
    deleted = ws_node.bus.subscribe(ModuleFileDeleted)
    (workspace / "tools" / "greeter.py").unlink()
    event = await asyncio.wait_for(deleted.get(), 3)
    assert isinstance(event, ModuleFileDeleted) and event.version == 1
    assert await call(ws_node) == "hello ada!"
    await asyncio.sleep(0.1)
    entries = await ws_node.security.audit.query(AuditQuery(action_prefix="tool.file_deleted"))
    assert entries and entries[0].detail["serving_version"] == 1


async def test_touch_without_change_creates_no_version(ws_node: HeartNode, workspace: Path) -> None:
    path = workspace / "tools" / "greeter.py"
    path.write_text(path.read_text())
    await asyncio.sleep(0.3)
    assert len(ws_node.reload.registry.versions("greeter")) == 1


async def test_refused_version_is_not_kept_in_memory(ws_node: HeartNode) -> None:
    from chimera_engine.events import VersionChanged

    events = ws_node.bus.subscribe(VersionChanged)
    result = await reload(ws_node, greeter(2).replace('punctuation: str = "!"', "punctuation: str"))
    assert not result.ok
    failed = ws_node.reload.registry.get("greeter", result.version or 0)
    assert failed.loaded is None and failed.tools == {}
    event = await asyncio.wait_for(events.get(), 1)
    assert isinstance(event, VersionChanged) and event.state == "failed"
    assert "signature" in event.detail


async def test_retirement_is_final(ws_node: HeartNode) -> None:
    await reload(ws_node, greeter(2))
    await ws_node.reload.set_state("greeter", 1, VersionState.RETIRED, SYSTEM)
    with pytest.raises(ValidationError, match="retirement is final"):
        await ws_node.reload.set_state("greeter", 1, VersionState.INACTIVE, SYSTEM)
