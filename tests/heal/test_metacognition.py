"""MetacognitiveEngine in a real engine: triggers, limits, evidence and status.

The workspace holds a tool that divides by zero; the replay provider (a
transcript written per test) answers with a tested fix, so requests go through
the real review queue and sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chimera_engine.config import load_settings
from chimera_engine.errors import PermissionDeniedError
from chimera_engine.events import (
    AnomalyDetected,
    Event,
    FailurePredicted,
    LearningDeferred,
    LearningFinished,
    LearningRequested,
    PatchChanged,
)
from chimera_engine.node import HeartNode
from chimera_engine.runtime import ToolCallError
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Role
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.events import TaskChanged
from tests.patches.conftest_helpers import FIX, make_workspace

PASSWORD = "correct horse battery"

PARITY = """from chimera_engine.tooling import tool


@tool(name="parity", description="even or odd")
def parity(n: int) -> str:
    if n < 0:
        raise ValueError("negative numbers are not supported")
    return "odd" if n % 2 else "even"
"""


SLOWING = """from chimera_engine.tooling import tool

_SEEN: list[int] = []


@tool(name="lookup", description="how often n was asked for")
def lookup(n: int) -> int:
    _SEEN.extend(range(5000))  # remembers far more than it needs, and scans it all
    return sum(1 for x in _SEEN if x == n)
"""


@contextlib.asynccontextmanager
async def engine(
    tmp_path: Path, exchanges: list[dict[str, Any]] | None = None, **env: str
) -> AsyncIterator[tuple[HeartNode, Session]]:
    workspace = make_workspace(tmp_path / "ws")
    (workspace / "tools" / "parity.py").write_text(PARITY)
    (workspace / "tools" / "slowing.py").write_text(SLOWING)
    transcript = tmp_path / "transcript.json"
    fix = {"match": "def ratio", "response": FIX}
    transcript.write_text(json.dumps({"exchanges": [fix] if exchanges is None else exchanges}))
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        use_default_file=False,
        env={
            "CHIMERA_API__ENABLED": "false",
            "CHIMERA_SWARM__ENABLED": "false",
            "CHIMERA_DEMO__ENABLED": "false",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_METRICS__ENABLED": "false",
            "CHIMERA_CODEGEN__TRANSCRIPT": str(transcript),
            "CHIMERA_HEAL__WARMUP_SECONDS": "0",
            **env,
        },
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        yield node, admin


async def fail(node: HeartNode, admin: Session, n: int = 3, tool: str = "ratio") -> None:
    args = {"a": 1, "b": 0} if tool == "ratio" else {"n": -1}
    for _ in range(n):
        with pytest.raises(ToolCallError):
            await node.runtime.call(tool, args, admin.principal)


async def wait(sub: Any, kind: type[Event], timeout: float = 30.0, **fields: Any) -> Any:
    async def first() -> Any:
        while True:
            event = await sub.get()
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
                return event

    return await asyncio.wait_for(first(), timeout)


FORECASTING = {
    "CHIMERA_METRICS__ENABLED": "true",
    "CHIMERA_METRICS__FORECAST_INTERVAL": "0.1",
    "CHIMERA_METRICS__TOOL_INTERVAL": "60",
    "CHIMERA_METRICS__PROCESS_INTERVAL": "60",
    "CHIMERA_HEAL__SETTLE_SECONDS": "0",
}


async def feed_until_predicted(
    node: HeartNode,
    admin: Session,
    sub: Any,
    sample: Callable[[int], dict[str, Any]],
    *,
    first: int,
    last: int,
) -> None:
    """Push ``first`` samples of history, then one more per forecast check until an event
    arrives (or ``last`` samples were pushed)."""
    await node.facade.metrics.push_metrics(admin.principal, [sample(i) for i in range(first)])
    for i in range(first, last):
        if len(sub):
            return
        await node.facade.metrics.push_metrics(admin.principal, [sample(i)])
        await asyncio.sleep(0.12)


async def test_a_forecast_of_falling_confidence_triggers_learning(tmp_path: Path) -> None:
    async with engine(tmp_path, **FORECASTING) as (node, admin):
        sub = node.bus.subscribe(FailurePredicted, LearningRequested, PatchChanged)
        node.hub.set_thresholds("tool.confidence", {"tool": "ratio"}, 0.8)
        start = time.time() - 30

        def sample(i: int) -> dict[str, Any]:  # the tool's confidence, sliding steadily
            value = 1.0 - 0.004 * i + 0.001 * (i % 2)
            return {
                "name": "tool.confidence",
                "labels": {"tool": "ratio"},
                "value": value,
                "t": start + i,
            }

        await feed_until_predicted(node, admin, sub, sample, first=30, last=120)
        predicted = await wait(sub, FailurePredicted)
        assert predicted.alert.direction == "down"
        requested = await wait(sub, LearningRequested)
        assert (requested.module, requested.trigger) == ("mathy", "forecast")
        assert "tool.confidence{tool=ratio} is forecast to cross 0.8" in requested.reason
        ready = await wait(sub, PatchChanged, state="ready")
        patch, _ = await node.facade.patches.get_patch(admin.principal, ready.patch_id)
        assert "tool.confidence{tool=ratio} is forecast" in patch.signature
        assert patch.replay and "Preventive learning, triggered by forecast" in patch.signature


async def test_a_version_that_keeps_slowing_down_triggers_learning(tmp_path: Path) -> None:
    async with engine(tmp_path) as (node, admin):
        sub = node.bus.subscribe(LearningRequested, LearningFinished)
        for n in range(400):
            await node.runtime.call("lookup", {"n": n % 7}, admin.principal)
            if len(sub):
                break
        requested = await wait(sub, LearningRequested, timeout=1)
        assert (requested.module, requested.trigger) == ("slowing", "latency")
        assert requested.reason.startswith("median latency ")
        finished = await wait(sub, LearningFinished)  # the transcript has no fix for it
        assert finished.outcome == "no_patch" and finished.backoff_until is not None


async def test_metric_triggers_wait_while_a_new_version_settles(tmp_path: Path) -> None:
    async with engine(tmp_path, CHIMERA_HEAL__SETTLE_SECONDS="600") as (node, admin):
        sub = node.bus.subscribe(AnomalyDetected)
        now = time.time()
        samples = [
            {
                "name": "tool.error_rate",
                "labels": {"tool": "ratio"},
                "value": 0.01 * (i % 4),
                "t": now - 50 + i,
            }
            for i in range(40)
        ]
        samples.append({"name": "tool.error_rate", "labels": {"tool": "ratio"}, "value": 0.9})
        assert (await node.facade.metrics.push_metrics(admin.principal, samples)).anomalies == 1
        await wait(sub, AnomalyDetected)
        await asyncio.sleep(0.1)
        status = await node.facade.heal.status(admin.principal)
        view = next(t for t in status.tools if t.tool == "ratio")
        assert "is settling" in view.last_decision and status.requests_made == 0
        assert view.signals[0].bad and view.confidence < 1.0


async def test_good_moves_and_other_metrics_do_not_trigger(tmp_path: Path) -> None:
    async with engine(tmp_path, CHIMERA_HEAL__SETTLE_SECONDS="0") as (node, admin):
        sub = node.bus.subscribe(AnomalyDetected)
        now = time.time()
        for name, labels, jump in (
            ("tool.latency_ms", {"tool": "ratio"}, 0.01),  # faster: good news
            ("host.cpu_percent", {}, 99.0),  # not a tool's metric
            ("tool.latency_ms", {"tool": "nosuchtool"}, 500.0),  # no such tool
        ):
            samples = [
                {"name": name, "labels": labels, "value": 5.0 + 0.2 * (i % 3), "t": now - 50 + i}
                for i in range(40)
            ]
            samples.append({"name": name, "labels": labels, "value": jump})
            assert (await node.facade.metrics.push_metrics(admin.principal, samples)).anomalies == 1
            await wait(sub, AnomalyDetected)
        await asyncio.sleep(0.1)
        status = await node.facade.heal.status(admin.principal)
        assert status.requests_made == 0
        view = next(t for t in status.tools if t.tool == "ratio")
        assert [s.bad for s in view.signals] == [False] and view.confidence == 1.0


async def test_a_latency_spike_alone_is_evidence_not_a_trigger(tmp_path: Path) -> None:
    async with engine(tmp_path, CHIMERA_HEAL__SETTLE_SECONDS="0") as (node, admin):
        sub = node.bus.subscribe(AnomalyDetected)
        now = time.time()
        labels = {"tool": "ratio"}
        samples = [
            {
                "name": "tool.latency_ms",
                "labels": labels,
                "value": 2.0 + 0.1 * (i % 3),
                "t": now - 50 + i,
            }
            for i in range(40)
        ]
        samples.append({"name": "tool.latency_ms", "labels": labels, "value": 300.0})
        assert (await node.facade.metrics.push_metrics(admin.principal, samples)).anomalies == 1
        await wait(sub, AnomalyDetected)
        for _ in range(6):  # the tool itself answers well: low confidence, but no request
            assert await node.runtime.call("ratio", {"a": 6, "b": 3}, admin.principal) == 2
        await asyncio.sleep(0.1)
        status = await node.facade.heal.status(admin.principal)
        view = next(t for t in status.tools if t.tool == "ratio")
        assert status.requests_made == 0 and view.last_decision == ""
        assert view.signals[0].bad and view.confidence < 0.6 and view.errors == 0


async def test_observe_only_keeps_the_model_but_never_asks(tmp_path: Path) -> None:
    async with engine(tmp_path, CHIMERA_HEAL__OBSERVE_ONLY="true") as (node, admin):
        sub = node.bus.subscribe(LearningDeferred, LearningRequested)
        await fail(node, admin, 6)
        deferred = await wait(sub, LearningDeferred)
        assert deferred.reason == "observing only (heal.observe_only)"
        await asyncio.sleep(0.1)
        assert sub.get_nowait() is None  # once per cause, and no request
        status = await node.facade.heal.status(admin.principal)
        view = next(t for t in status.tools if t.tool == "ratio")
        assert (view.calls, view.errors, view.state) == (6, 6, "failing")
        assert view.top_failure.startswith("ZeroDivisionError at mathy.py:")
        assert view.top_failure_count == 6 and len(view.failures) == 5  # evidence_size
        assert await node.facade.patches.list_patches(admin.principal) == []


async def test_no_warmup_request_right_after_start(tmp_path: Path) -> None:
    async with engine(tmp_path, CHIMERA_HEAL__WARMUP_SECONDS="600") as (node, admin):
        sub = node.bus.subscribe(LearningDeferred)
        await fail(node, admin)
        deferred = await wait(sub, LearningDeferred)
        assert "observing first" in deferred.reason and deferred.until is not None
        assert (await node.facade.heal.status(admin.principal)).requests_made == 0


async def test_no_patch_means_back_off(tmp_path: Path) -> None:
    async with engine(tmp_path, [], CHIMERA_HEAL__BACKOFF_SECONDS="300") as (node, admin):
        sub = node.bus.subscribe(LearningFinished, LearningDeferred)
        await fail(node, admin)
        finished = await wait(sub, LearningFinished)
        assert finished.outcome == "no_patch" and "scripted answers are used up" in finished.reason
        assert finished.backoff_until is not None
        assert 299 < finished.backoff_until - time.time() <= 300
        await fail(node, admin)
        deferred = await wait(sub, LearningDeferred)
        assert deferred.reason.startswith("backing off after 1 failed attempt")
        status = await node.facade.heal.status(admin.principal)
        view = next(t for t in status.tools if t.tool == "ratio")
        assert view.failed_attempts == 1 and view.backoff_until == finished.backoff_until
        assert status.requests_made == 1 and status.requests_last_hour == 1


async def test_hourly_budget_across_tools(tmp_path: Path) -> None:
    async with engine(tmp_path, CHIMERA_HEAL__MAX_REQUESTS_PER_HOUR="1") as (node, admin):
        sub = node.bus.subscribe(LearningRequested, LearningDeferred)
        await fail(node, admin)
        assert (await wait(sub, LearningRequested)).module == "mathy"
        await fail(node, admin, tool="parity")
        deferred = await wait(sub, LearningDeferred, module="parity")
        assert deferred.reason == "the budget of 1 requests per hour is spent"
        status = await node.facade.heal.status(admin.principal)
        assert (status.requests_last_hour, status.max_requests_per_hour) == (1, 1)


async def test_an_operators_patch_under_way_holds_metacognition(tmp_path: Path) -> None:
    async with engine(tmp_path) as (node, admin):
        outcome = await node.facade.patches.request_patch(admin.principal, "mathy", note="by hand")
        assert outcome.patch is not None and outcome.patch.state.value == "ready"
        sub = node.bus.subscribe(LearningDeferred, LearningRequested)
        await fail(node, admin)
        deferred = await wait(sub, LearningDeferred)
        assert deferred.reason == f"patch {outcome.patch.id} for it is still under way"
        await node.facade.patches.reject_patch(admin.principal, outcome.patch.id, "not now")
        await fail(node, admin)
        requested = await wait(sub, LearningRequested)
        assert requested.module == "mathy"


async def test_status_needs_tool_read_and_says_when_disabled(tmp_path: Path) -> None:
    async with engine(tmp_path, CHIMERA_HEAL__ENABLED="false") as (node, admin):
        assert node.heal_engine is None
        await node.facade.admin.create_user(admin.principal, "obs", PASSWORD, "observer")
        observer = await node.facade.sessions.login("obs", PASSWORD)
        status = await node.facade.heal.status(observer.principal)
        assert not status.enabled and status.tools == ()
        pusher = Principal(  # a credential scoped to pushing metrics
            user_id=None,
            name="pusher",
            role=Role.API_CLIENT,
            via="capability",
            expires_at=time.time() + 60,
            scopes=frozenset({"metrics.push"}),
        )
        with pytest.raises(PermissionDeniedError):
            await node.facade.heal.status(pusher)


async def test_an_agents_memory_forecast_is_laid_at_the_tool_it_runs(tmp_path: Path) -> None:
    async with engine(tmp_path, **FORECASTING) as (node, admin):
        sub = node.bus.subscribe(FailurePredicted, LearningRequested)
        for tool in ("ratio", "ratio", "parity"):  # the agent ran mostly ratio lately
            node.bus.publish(TaskChanged(task_id=tool, state="succeeded", agent="a-1", tool=tool))
        labels = {"agent": "a-1", "role": "analyzer"}
        node.hub.set_thresholds("agent.rss_mb", labels, 400.0)
        start = time.time() - 60

        def sample(i: int) -> dict[str, Any]:  # about 1 MB/s, as a cache that never forgets
            value = 60.0 + 1.0 * i + 0.2 * (i % 2)
            return {"name": "agent.rss_mb", "labels": labels, "value": value, "t": start + i}

        await feed_until_predicted(node, admin, sub, sample, first=60, last=160)
        predicted = await wait(sub, FailurePredicted)
        assert predicted.alert.direction == "up"
        requested = await wait(sub, LearningRequested)
        assert (requested.module, requested.trigger) == ("mathy", "forecast")
        assert "agent.rss_mb{agent=a-1,role=analyzer} is forecast to cross 400" in requested.reason
