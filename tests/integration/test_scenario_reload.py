"""Scenario 3, zero-downtime update, through the whole engine: while the demo workload
calls the tools, an operator edits a tool file; the watcher sees it, the module is
loaded into a new version, calls switch to it at once, the old version finishes the
call it was running and is deprecated -- and no call fails.

The edited tool is ``check_http`` (module ``health_check``): a check of a loopback
endpoint that answers only when the test says so keeps a call running on the old
version for exactly as long as needed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from chimera_engine.audit.store import AuditQuery
from chimera_engine.events import Subscription, ToolCallCompleted, VersionChanged
from chimera_engine.modules.models import CallRecord, Origin, VersionState
from tests.integration.scenario_env import scenario

MODULE, TOOL = "health_check", "check_http"
REPORT_SERVER = (
    '        "latency_ms": latency,\n        "error": "",\n    }',
    '        "latency_ms": latency,\n        "error": "",\n'
    '        "server": response.headers.get("server", ""),\n    }',
)


@contextlib.asynccontextmanager
async def held_endpoint(release: asyncio.Event) -> AsyncIterator[str]:
    """A loopback URL whose answer waits for ``release``."""

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="ok", headers={"Server": "held"})

    app = web.Application()
    app.router.add_get("/slow", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/slow"
    finally:
        release.set()
        await runner.cleanup()


def save_like_an_editor(path: Path, text: str) -> None:
    """Write a temporary file and rename it over the original (atomic save)."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


async def until(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    ends = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > ends:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def next_version_event(
    sub: Subscription, state: str, timeout: float = 15.0
) -> VersionChanged:
    async with asyncio.timeout(timeout):
        while True:
            event = await sub.get()
            if isinstance(event, VersionChanged) and (event.module, event.state) == (
                MODULE,
                state,
            ):
                return event


async def until_async(
    read: Callable[[], Awaitable[str]], wanted: str, timeout: float = 5.0
) -> None:
    ends = time.monotonic() + timeout
    while (value := await read()) != wanted:
        if time.monotonic() > ends:
            raise AssertionError(f"still {value!r}, expected {wanted!r}")
        await asyncio.sleep(0.05)


def drain(sub: Subscription) -> list[CallRecord]:
    records = []
    while (event := sub.get_nowait()) is not None:
        if isinstance(event, ToolCallCompleted):
            records.append(event.record)
    return records


async def test_hot_reload_during_operation(tmp_path: Path) -> None:
    async with scenario(tmp_path) as s:
        node, facade = s.node, s.node.facade
        operator = s.people.operator.principal
        registry = node.reload.registry
        calls = node.bus.subscribe(ToolCallCompleted, maxsize=200_000)
        versions = node.bus.subscribe(VersionChanged)

        # The workload runs (no scheduled faults), through the same runtime as everyone;
        # its health checks call the engine's own /healthz.
        await facade.demo.schedule(operator, False)
        await facade.demo.set_rate(operator, 60)
        await facade.demo.start(operator)
        assert node.demo is not None
        workload = node.demo.workload
        await until(lambda: TOOL in workload.per_tool and workload.calls >= 40)

        release = asyncio.Event()
        async with held_endpoint(release) as slow_url:
            # A call starts on v1 and waits for its endpoint ...
            v1 = registry.active[MODULE]
            long_call = asyncio.create_task(
                facade.modules.call_tool(operator, TOOL, {"url": slow_url, "timeout": 30.0})
            )
            await until(lambda: v1.in_flight >= 1)

            # ... while the operator saves an edited health_check.py.
            path = s.workspace / "tools" / f"{MODULE}.py"
            edited = path.read_text(encoding="utf-8").replace(*REPORT_SERVER)
            assert "response.headers" in edited
            save_like_an_editor(path, edited)
            activated = await next_version_event(versions, "active")
            switched_at = time.time()
            assert activated.version == 2
            v2 = registry.active[MODULE]
            assert (v2.version, v2.origin) == (2, Origin.FILE_CHANGE)
            # v1 still serves its call: it drains, it is not deprecated yet
            assert not long_call.done() and v1.in_flight >= 1
            assert v1.state is VersionState.INACTIVE and v1.loaded is not None

            # New calls go to v2 (they report the server) ...
            api_url = f"{node.api.url}/healthz" if node.api else ""
            fresh = await facade.modules.call_tool(operator, TOOL, {"url": api_url})
            assert fresh["ok"] and "server" in fresh
            # ... and once released, the long call finishes on v1 (no "server" field).
            release.set()
            result = await long_call
        assert result["ok"] and result["status"] == 200 and "server" not in result
        drained = await next_version_event(versions, "deprecated")
        assert (drained.version, drained.detail) == (1, "drained")
        assert v1.state is VersionState.DEPRECATED and v1.loaded is None and v1.in_flight == 0
        listed = {v.version: v for v in await facade.modules.module_versions(operator, MODULE)}
        assert (listed[1].state, listed[2].state, listed[2].active) == (
            "deprecated",
            "active",
            True,
        )

        # The workload keeps going on v2; nothing failed at any point.
        before = workload.per_tool[TOOL].calls
        await until(lambda: workload.per_tool[TOOL].calls >= before + 10)
        await facade.demo.stop(operator)
        records = [r for r in drain(calls) if r.tool == TOOL]
        assert workload.failures == 0 and workload.calls > 60, workload.status()
        assert all(r.outcome == "ok" for r in records)
        held = [r for r in records if r.duration_s > 0.05 and r.version == 1]
        assert held and all(r.started_at < switched_at for r in held)
        assert len([r for r in records if r.version == 2]) >= 10
        assert all(r.version == 2 for r in records if r.started_at > switched_at + 0.05)

        # The deprecation is persisted; the reload and the demo control are audited.
        async def stored_state() -> str:
            row = await node.db.read(
                lambda c: c.execute(
                    "SELECT state FROM module_versions WHERE module = ? AND version = 1",
                    (MODULE,),
                ).fetchone()
            )
            return str(row[0])

        await until_async(lambda: stored_state(), "deprecated")
        await node.security.audit.flush()
        reloads = await node.security.audit.query(AuditQuery(action_prefix="tool.reload"))
        changes = [e for e in reloads if e.detail["origin"] != "initial"]
        assert [
            (e.outcome, e.target, e.detail["origin"], e.detail["version"]) for e in changes
        ] == [("ok", MODULE, "file_change", 2)]
        demo = await node.security.audit.query(AuditQuery(action_prefix="demo.workload"))
        assert {(e.action, e.actor) for e in demo} >= {
            ("demo.workload.start", "olga"),
            ("demo.workload.stop", "olga"),
        }
