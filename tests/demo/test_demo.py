"""The demo workload and its fault injector on a real engine (demo workspace, real
runtime, real reloads), plus the faults' state machines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.demo.events import DemoFaultChanged
from chimera_engine.demo.faults import (
    FAULTS,
    ErrorBurstFault,
    FaultCall,
    FaultState,
    LatencyLeakFault,
    MemoryCreepFault,
)
from chimera_engine.demo.settings import DemoSettings
from chimera_engine.errors import NotFoundError, PermissionDeniedError, ValidationError
from chimera_engine.events import ToolCallCompleted
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Role

PASSWORD = "correct horse battery"
ENV = {
    "CHIMERA_API__PORT": "0",
    "CHIMERA_DEMO__START_DELAY": "0",
    "CHIMERA_DEMO__FAULTS": "false",
    "CHIMERA_DEMO__AGENTS": "0",
    "CHIMERA_DEMO__RATE": "40",
    "CHIMERA_HEAL__ENABLED": "false",
}
# A fix of the kind the csv_shape fault calls for: find the delimiter in the header.
SNIFF = (
    "    reader = csv.reader(io.StringIO(text), delimiter=delimiter)\n",
    '    text = text.removeprefix("\\ufeff")\n'
    '    if delimiter == ",":\n'
    '        first = text.split("\\n", 1)[0]\n'
    '        delimiter = max(",;\\t|", key=first.count)\n'
    "    reader = csv.reader(io.StringIO(text), delimiter=delimiter)\n",
)


async def until(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    ends = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > ends:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def demo_node(tmp_path: Path) -> AsyncIterator[HeartNode]:
    settings = load_settings(data_dir=tmp_path / "data", env=ENV, use_default_file=False)
    async with HeartNode(settings) as node:
        yield node


async def people(node: HeartNode) -> tuple[Session, Session, Session]:
    admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
    out = [admin]
    for name, role in (("olga", Role.OPERATOR), ("otto", Role.OBSERVER)):
        await node.facade.admin.create_user(admin.principal, name, PASSWORD, role)
        out.append(await node.facade.sessions.login(name, PASSWORD))
    return out[0], out[1], out[2]


def test_enabled_by_default_only_with_the_demo_workspace() -> None:
    assert DemoSettings().active(demo_workspace=True)
    assert not DemoSettings().active(demo_workspace=False)
    assert not DemoSettings(enabled=False).active(demo_workspace=True)
    assert DemoSettings(enabled=True).active(demo_workspace=False)
    custom = load_settings(workspace=Path("/srv/ws"), env={}, use_default_file=False)
    assert custom.demo.enabled is None and not custom.demo.active(custom.engine.workspace is None)


async def test_the_workload_starts_with_the_demo_workspace(demo_node: HeartNode) -> None:
    calls = demo_node.bus.subscribe(ToolCallCompleted, maxsize=10_000)
    assert demo_node.demo is not None and demo_node.demo.running
    workload = demo_node.demo.workload
    await until(
        lambda: {"clean_csv", "parse_log", "validate_json", "check_http"} <= set(workload.per_tool)
    )
    assert workload.failures == 0 and workload.state.value == "running"
    records = []
    while (event := calls.get_nowait()) is not None:
        records.append(event.record)  # type: ignore[attr-defined]
    assert records and {r.caller for r in records} == {"system:demo"}
    assert {r.outcome for r in records} == {"ok"}
    # the metrics it feeds exist
    await until(
        lambda: any(
            m.key.startswith("tool.latency_ms{tool=parse_log") for m in demo_node.hub.metrics()
        )
    )


async def test_control_needs_demo_control_and_is_audited(demo_node: HeartNode) -> None:
    _, operator, observer = await people(demo_node)
    facade = demo_node.facade
    status = await facade.demo.status(observer.principal)
    assert [f.name for f in status.faults] == list(FAULTS)
    for refused in (
        facade.demo.pause(observer.principal),
        facade.demo.trigger(observer.principal, "csv_shape"),
        facade.demo.set_rate(observer.principal, 3),
    ):
        with pytest.raises(PermissionDeniedError):
            await refused
    paused = await facade.demo.pause(operator.principal)
    assert paused.workload.state == "paused"
    calls = demo_node.demo.workload.calls if demo_node.demo else 0
    await asyncio.sleep(0.3)
    assert demo_node.demo is not None and demo_node.demo.workload.calls - calls <= 5  # in flight
    assert (await facade.demo.resume(operator.principal)).workload.state == "running"
    with pytest.raises(ValidationError):
        await facade.demo.set_rate(operator.principal, 0)
    assert (await facade.demo.set_rate(operator.principal, 12.5)).workload.rate == 12.5
    with pytest.raises(NotFoundError):
        await facade.demo.trigger(operator.principal, "meteor")
    with pytest.raises(ValidationError, match="swarm agents"):
        await facade.demo.trigger(operator.principal, "memory_creep")
    stopped = await facade.demo.stop(operator.principal)
    assert stopped.workload.state == "stopped" and not demo_node.demo.running
    entries = await demo_node.security.audit.query(AuditQuery(action_prefix="demo."))
    mine = [(e.action, e.outcome) for e in entries if e.actor == "olga"]
    assert {
        ("demo.workload.pause", "ok"),
        ("demo.workload.resume", "ok"),
        ("demo.workload.rate", "ok"),
        ("demo.workload.stop", "ok"),
    } <= set(mine)
    denied = [e for e in entries if e.actor == "otto"]
    assert len(denied) == 3 and {e.outcome for e in denied} == {"denied"}


async def test_csv_shape_fails_then_a_fix_recovers_it(demo_node: HeartNode) -> None:
    admin, operator, _ = await people(demo_node)
    facade = demo_node.facade
    status = await facade.demo.trigger(operator.principal, "csv_shape")
    assert status.state == "active"
    demo = demo_node.demo
    assert demo is not None
    fault = demo.fault("csv_shape")
    await until(lambda: fault.state is FaultState.DEGRADED)
    assert "row 1 has 2 cells but the header has 1" in fault.detail
    # the fix, loaded as a new version of the module: the same inputs now parse
    source = await facade.modules.version_source(admin.principal, "csv_cleaner", 1)
    fixed = source.replace(*SNIFF)
    assert fixed != source
    result = await facade.modules.reload_module(operator.principal, "csv_cleaner", source=fixed)
    assert result.ok, result.reason
    await until(lambda: fault.state is FaultState.RECOVERED)
    assert fault.recovered_at is not None and fault.symptom_at is not None
    assert fault.recovered_at > fault.symptom_at
    # normal CSVs kept working all along
    normal = demo.workload.per_tool["clean_csv"]
    assert normal.calls > fault.total
    cleared = await facade.demo.clear(operator.principal, "csv_shape")
    assert cleared.state == "idle" and cleared.failures >= 1
    entries = await demo_node.security.audit.query(AuditQuery(action_prefix="demo.fault"))
    assert {(e.action, e.target) for e in entries} >= {
        ("demo.fault.start", "csv_shape"),
        ("demo.fault.stop", "csv_shape"),
    }


async def test_error_burst_ends_by_itself(demo_node: HeartNode) -> None:
    _, operator, _ = await people(demo_node)
    assert demo_node.demo is not None
    fault = demo_node.demo.fault("error_burst")
    assert isinstance(fault, ErrorBurstFault)
    fault.duration = 1.5
    await demo_node.facade.demo.trigger(operator.principal, "error_burst")
    await until(lambda: fault.state is FaultState.DEGRADED)
    assert "RecursionError" in fault.detail
    await until(lambda: fault.state is FaultState.RECOVERED)
    assert fault.recovered_at is not None and fault.started_at is not None
    assert fault.recovered_at - fault.started_at >= fault.duration


def test_latency_leak_state_machine() -> None:
    now = [1000.0]
    fault = LatencyLeakFault(clock=lambda: now[0])
    fault.start()

    def feed(ms: float, n: int) -> None:
        for _ in range(n):
            fault.observe(FaultCall(at=now[0], ok=True, duration_s=ms / 1e3))

    feed(1.0, 10)
    assert fault.evaluate() is FaultState.ACTIVE and fault.baseline_ms == 1.0
    feed(4.0, 10)  # worse, not yet a leak (limit: max(5 x 1, 1 + 5) = 6 ms)
    assert fault.evaluate() is FaultState.ACTIVE
    feed(30.0, 10)
    assert fault.evaluate() is FaultState.DEGRADED
    feed(2.5, 10)  # better, but not back (limit: max(2 x 1, 1 + 2) = 3 ms) -> 2.5 is back
    assert fault.evaluate() is FaultState.RECOVERED
    feed(40.0, 10)
    assert fault.evaluate() is FaultState.DEGRADED and fault.recovered_at is None
    fault.stop()
    assert fault.evaluate() is FaultState.IDLE


def test_memory_creep_state_machine() -> None:
    now = [0.0]
    fault = MemoryCreepFault(clock=lambda: now[0])
    fault.start()

    def tick(mb: float, tasks: int) -> FaultState:
        now[0] += 1.0
        for _ in range(tasks):
            fault.observe(FaultCall(at=now[0], ok=True, duration_s=0.01))
        agents = [
            {"id": "a1", "role": "analyzer", "state": "ready", "rss_bytes": int(mb * 2**20)},
            {"id": "e1", "role": "executor", "state": "ready", "rss_bytes": 900 * 2**20},
        ]
        return fault.evaluate(agents)

    mb = 40.0
    states = []
    for _ in range(20):  # +0.8 MB/s: a creep
        mb += 0.8
        states.append(tick(mb, 20))
    assert states[-1] is FaultState.DEGRADED and fault.growth() >= 15
    for _ in range(20):  # flat while tasks keep coming: recovered
        states.append(tick(mb + 0.1, 20))
    assert states[-1] is FaultState.RECOVERED
    fault.start()
    for _ in range(20):
        mb += 0.05
        assert tick(mb, 0) is FaultState.ACTIVE  # no creep, no symptom


async def test_the_schedule_triggers_faults_in_turn(tmp_path: Path) -> None:
    env = {
        **ENV,
        "CHIMERA_DEMO__FAULTS": "true",
        "CHIMERA_DEMO__FIRST_FAULT": "0.2",
        "CHIMERA_DEMO__FAULT_MAX": "1.5",
        "CHIMERA_DEMO__FAULT_INTERVAL": "0.2",
    }
    settings = load_settings(data_dir=tmp_path / "data", env=env, use_default_file=False)
    async with HeartNode(settings) as node:
        changes = node.bus.subscribe(DemoFaultChanged)
        assert node.demo is not None and node.demo.schedule
        seen: list[tuple[str, str, str]] = []
        async with asyncio.timeout(15):
            while ("latency_leak", "active", "system:demo") not in seen:
                event = await changes.get()
                assert isinstance(event, DemoFaultChanged)
                seen.append((event.name, event.state, event.actor))
        assert seen[:2] == [("csv_shape", "active", "system:demo"), ("csv_shape", "degraded", "")]
        assert ("csv_shape", "idle", "system:demo") in seen  # stopped after fault_max
        entries = await node.security.audit.query(AuditQuery(action_prefix="demo.fault"))
        assert [(e.action, e.target, e.actor) for e in reversed(entries)][:2] == [
            ("demo.fault.start", "csv_shape", "system:demo"),
            ("demo.fault.stop", "csv_shape", "system:demo"),
        ]


def test_a_fault_fixed_before_its_symptom_recovers() -> None:
    now = [0.0]
    fault = LatencyLeakFault(clock=lambda: now[0])
    fault.start(version=1)
    for ms in (1.0, 1.2, 1.1, 0.9, 1.0, 1.4, 1.6, 1.8, 2.0, 2.2):  # growing, no symptom yet
        fault.observe(FaultCall(at=now[0], ok=True, duration_s=ms / 1e3, version=1))
    assert fault.evaluate() is FaultState.ACTIVE  # healthy, but on the version it started on
    for _ in range(5):  # a new version serves the same inputs, as fast as at the start
        fault.observe(FaultCall(at=now[0], ok=True, duration_s=0.8e-3, version=2))
    now[0] = 5.0
    assert fault.evaluate() is FaultState.RECOVERED
    assert fault.symptom_at is None and fault.recovered_at == 5.0


async def test_a_paused_demo_does_no_work(tmp_path: Path) -> None:
    """Paused, the fault watch makes no round (no agent metric, no wake-up) and the
    schedule injects nothing; resumed, both carry on where they were."""
    env = {
        **ENV,
        "CHIMERA_DEMO__FAULTS": "true",
        "CHIMERA_DEMO__FIRST_FAULT": "1.2",
        "CHIMERA_DEMO__FAULT_MAX": "30",
    }
    settings = load_settings(data_dir=tmp_path / "data", env=env, use_default_file=False)
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        demo = node.demo
        assert demo is not None
        await until(lambda: demo.watch_rounds >= 1)  # the watch runs with the workload
        changes = node.bus.subscribe(DemoFaultChanged)
        await node.facade.demo.pause(admin.principal)
        await asyncio.sleep(0.1)  # a round already under way ends
        rounds = demo.watch_rounds
        await asyncio.sleep(1.5)  # three evaluation periods, past the first fault's time
        assert demo.workload.state.value == "paused"
        assert demo.watch_rounds == rounds, "the watch woke up while paused"
        assert changes.get_nowait() is None, "a fault was injected while paused"
        assert all(not f.active for f in demo.faults.values())

        await node.facade.demo.resume(admin.principal)
        await until(lambda: demo.watch_rounds > rounds)
        event = await asyncio.wait_for(changes.get(), 10)
        assert isinstance(event, DemoFaultChanged) and event.state == "active"
