"""The Overview panel against a real engine: it is the first panel, shown by default;
an anomaly and a waiting patch show up live and click through to their panels; a
waiting patch notifies once; empty sections say what to do next."""

from __future__ import annotations

import asyncio
import doctest
import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

import app.shared.overview
from app.bridge import EngineBridge
from app.controller import ConsoleController
from app.panels.overview.cards import ItemRole
from app.panels.overview.notify import Incident, Notifier
from app.panels.overview.view import OverviewPanel
from app.shared.overview import AGENTS, ANOMALIES, AUDIT, EMPTY, PATCHES, RELOADS, TOOLS, Item
from chimera_engine.node import HeartNode
from tests.app.conftest import EngineFactory
from tests.app.helpers import ADMIN_NAME, ADMIN_PASSWORD, wait_signal, wait_until
from tests.patches.gui.helpers import fail_calls, make_workspace, patch_env, ready_patch

pytestmark = pytest.mark.asyncio


async def push_spike(node: HeartNode, name: str = "queue.depth") -> int:
    """A flat series for 200 s, then one spike: the engine raises one anomaly; its id."""
    principal = (await node.facade.sessions.login(ADMIN_NAME, ADMIN_PASSWORD)).principal
    t0 = time.time() - 240
    samples = [{"name": name, "value": 10 + (i % 3), "t": t0 + i} for i in range(200)]
    samples.append({"name": name, "value": 400.0, "t": t0 + 200})
    result = await node.facade.metrics.push_metrics(principal, samples)
    assert result.anomalies == 1
    await node.hub.flush()
    return (await node.facade.metrics.list_anomalies(principal, metric=name))[0].id


def on_top(widget: QWidget) -> bool:
    """Whether ``widget`` is the tab on screen (tabified docks all report isVisible())."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


async def open_overview(bridge: EngineBridge, qtbot: QtBot, **kwargs: object) -> OverviewPanel:
    await bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
    panel = OverviewPanel(bridge, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(panel)
    panel.resize(1280, 760)
    panel.show()
    await wait_signal(panel.loaded)
    return panel


async def test_first_panel_and_an_anomaly_clicks_through_to_the_dashboard(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = ConsoleController(env.bridge).build_main_window()
        qtbot.addWidget(window)
        window.show()
        assert window.panel_names()[0] == "Overview"
        overview = window.panel("Overview")
        assert isinstance(overview, OverviewPanel)
        dashboard = window.panel("Dashboard")
        await wait_until(lambda: overview.overview is not None, what="overview read")
        assert on_top(overview) and not on_top(dashboard), "shown by default"
        card = overview.cards[ANOMALIES]
        assert card.list.count() == 0 and card.empty_label.text() == EMPTY[ANOMALIES]

        anomaly_id = await push_spike(env.node)
        await wait_until(lambda: card.list.count() == 1, within=5, what="anomaly listed")
        (text,) = card.texts()
        assert "queue.depth = 400 (expected" in text and "spike" in text
        assert card.summary_label.text() == "1 open incident"
        assert "1 open incident" in overview.headline_label.text()

        await wait_until(
            lambda: dashboard.anomaly_model.get(anomaly_id) is not None,  # type: ignore[attr-defined]
            what="the dashboard knows the anomaly",
        )
        card.click(0)
        await wait_until(lambda: on_top(dashboard) and not on_top(overview), what="dashboard")
        selected = dashboard.anomalies.selected()  # type: ignore[attr-defined]
        assert [a.id for a in selected] == [anomaly_id]

        # A tool opens the Modules panel on the version that serves it.
        tools = overview.cards[TOOLS]
        assert tools.list.count() > 0
        first = tools.list.item(0).data(ItemRole)
        modules: Any = window.panel("Modules")
        await wait_until(lambda: modules.model.rowCount() > 0, what="modules listed")
        tools.click(0)
        await wait_until(lambda: on_top(modules), what="the modules panel on top")
        picked = modules.selected_versions()
        assert [(v.module, v.version) for v in picked] == [first.key]
        window.close_quietly()


async def test_a_waiting_patch_shows_notifies_once_and_clicks_through(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    async with engine(**patch_env(ws)) as env:
        assert env.admin is not None
        notifier = Notifier(use_tray=False, coalesce_ms=50)
        overview = await open_overview(env.bridge, qtbot, min_interval_ms=100, notifier=notifier)
        notified: list[tuple[str, str, object]] = []
        notifier.notified.connect(lambda *args: notified.append(args))
        opened: list[tuple[str, object]] = []
        overview.openRequested.connect(lambda panel, key: opened.append((panel, key)))
        card = overview.cards[PATCHES]
        assert card.empty_label.isVisibleTo(overview) and card.empty_label.text() == EMPTY[PATCHES]

        await fail_calls(env.node, env.admin.principal)
        patch = await ready_patch(env.node, env.admin.principal)
        await wait_until(lambda: card.list.count() == 1, within=5, what="patch listed")
        assert card.texts() == [f"Patch {patch.id} · mathy v1 · risk low · script-1"]
        assert card.summary_label.text() == "1 patch to review"
        await wait_until(lambda: bool(notified), what="notified")
        assert notified == [
            (
                "Patch waiting for approval",
                f"Patch {patch.id} for mathy passed the sandbox and waits for your review",
                Item(text=f"Patch {patch.id}", panel="Patches", key=patch.id),
            )
        ]
        assert overview.notice.isVisibleTo(overview), "no tray here: an in-app notice"
        assert overview.notice_label.text().startswith("Patch waiting for approval: ")

        # The same patch again (a re-delivered or repeated event): no second notification.
        env.bridge.patchChanged.emit(patch.id, "mathy", "ready", "")
        await asyncio.sleep(0.2)
        assert len(notified) == 1

        overview.notice_open.click()
        assert opened == [("Patches", patch.id)] and not overview.notice.isVisibleTo(overview)
        card.click(0)
        assert opened[-1] == ("Patches", patch.id)
        # Three failed calls; the engine's tool-call collector then reports a confidence.
        # Judged on the last minutes (calls, errors, median latency), not the lifetime.
        expected = "ratio (mathy v1) — 0.0% ok of 3 calls in 2 min · p50 "
        tools = overview.cards[TOOLS]

        def shown() -> bool:
            texts = tools.texts()
            return (
                len(texts) == 1
                and texts[0].startswith(expected)
                and texts[0].endswith(" ms · confidence 0.80")
            )

        await wait_until(shown, within=5, what=expected)
        assert tools.summary_label.text() == "0 of 1 tools healthy"


async def test_empty_states_say_what_to_do_next(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    ws = tmp_path / "empty"
    (ws / "tools").mkdir(parents=True)
    env_vars = {
        "CHIMERA_ENGINE__WORKSPACE": str(ws),
        "CHIMERA_TOOLS__WATCH": "false",
        "CHIMERA_SWARM__ENABLED": "false",
    }
    async with engine(**env_vars) as env:
        overview = await open_overview(env.bridge, qtbot)
        for name in (TOOLS, ANOMALIES, PATCHES, RELOADS):
            card = overview.cards[name]
            assert card.list.count() == 0, name
            assert card.empty_label.isVisibleTo(overview), name
            assert card.empty_label.text() == EMPTY[name]
        assert "tools/ folder" in EMPTY[TOOLS] and "Patches panel" in EMPTY[PATCHES]
        agents = overview.cards[AGENTS]
        assert agents.summary_label.text() == "swarm off"
        assert agents.empty_label.text().startswith("The swarm is not running: it is disabled")
        assert "Enable it in the settings (swarm.enabled)" in agents.empty_label.text()
        assert overview.cards[AUDIT].list.count() > 0, "the sign-in itself is audited"


async def test_incidents_coalesce_and_repeat_only_after_a_while(qtbot: QtBot) -> None:
    now = [0.0]
    notifier = Notifier(use_tray=False, coalesce_ms=30, repeat_after_s=60, clock=lambda: now[0])
    shown: list[tuple[str, str]] = []
    notifier.notified.connect(lambda title, message, _target: shown.append((title, message)))

    def predicted(metric: str) -> bool:
        return notifier.incident(
            Incident(
                key=("prediction", metric, 90.0, "up"),
                title="Failure predicted",
                message=f"{metric} is forecast to cross 90",
                target=Item(text=metric, panel="Dashboard"),
            )
        )

    assert [predicted(m) for m in ("a", "b", "c", "d", "a")] == [True] * 4 + [False]
    await wait_until(lambda: bool(shown), what="one notification for the burst")
    await asyncio.sleep(0.1)
    assert len(shown) == 1
    title, message = shown[0]
    assert title == "4 things need you"
    assert message.splitlines()[0] == "• a is forecast to cross 90"
    assert message.splitlines()[-1] == "… and 1 more (see the Overview)"

    now[0] = 30.0
    assert not predicted("a"), "the same incident within the repeat delay"
    now[0] = 61.0
    assert predicted("a"), "a new incident once the old one is stale"
    notifier.flush()
    assert shown[-1] == ("Failure predicted", "a is forecast to cross 90")


async def test_a_burst_of_events_makes_few_reads(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        overview = await open_overview(env.bridge, qtbot, min_interval_ms=300, poll_ms=60_000)
        reads: list[float] = []
        overview.loaded.connect(lambda _overview: reads.append(time.monotonic()))
        assert env.admin is not None
        audit = env.node.security.audit
        start = time.monotonic()
        for i in range(200):  # a burst of audited engine events, each one a Qt signal
            await audit.record(env.admin.principal, "overview.burst", target=f"item:{i}")
        burst_s = time.monotonic() - start
        await asyncio.sleep(0.8)
        assert 1 <= len(reads) <= 2 + (burst_s + 0.8) / 0.3, (reads, burst_s)
        gaps = [b - a for a, b in itertools.pairwise(reads)]
        assert all(gap >= 0.25 for gap in gaps), gaps
        texts = overview.cards[AUDIT].texts()
        assert texts[0].endswith("overview.burst item:199"), "the last read shows the last one"


async def test_with_a_tray_the_notice_stays_hidden(engine: EngineFactory, qtbot: QtBot) -> None:
    async with engine() as env:
        notifier = Notifier(use_tray=True, coalesce_ms=10)
        assert notifier.tray is not None and not notifier.in_app
        overview = await open_overview(env.bridge, qtbot, notifier=notifier)
        shown: list[str] = []
        notifier.notified.connect(lambda title, _message, _target: shown.append(title))
        env.bridge.patchChanged.emit(7, "mathy", "ready", "")
        await wait_until(lambda: bool(shown), what="notified")
        assert shown == ["Patch waiting for approval"]
        assert not overview.notice.isVisibleTo(overview), "the desktop shows it, not the panel"
        opened: list[tuple[str, object]] = []
        overview.openRequested.connect(lambda panel, key: opened.append((panel, key)))
        notifier.tray.messageClicked.emit()
        assert opened == [("Patches", 7)]


async def test_agents_are_listed_and_click_through_to_the_swarm(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine(CHIMERA_SWARM__INITIAL_AGENTS="executor:1") as env:
        await env.bridge.login(ADMIN_NAME, ADMIN_PASSWORD)
        window = ConsoleController(env.bridge).build_main_window()
        qtbot.addWidget(window)
        window.show()
        overview = window.panel("Overview")
        assert isinstance(overview, OverviewPanel)
        card = overview.cards[AGENTS]
        await wait_until(
            lambda: card.list.count() == 1 and " · ready · " in card.texts()[0],
            within=15,
            what="the agent listed, ready",
        )
        assert card.summary_label.text() == "1 of 1 agents ready · 0 queued"
        (agent,) = await env.node.facade.swarm.agents(env.bridge.principal)
        assert card.texts()[0].startswith(f"{agent.id} · ready · 0 in flight")
        swarm: Any = window.panel("Swarm")
        await wait_until(
            lambda: swarm.agent_model.row_of(agent.id) >= 0,
            within=15,
            what="the swarm panel lists it",
        )
        swarm.agent_table.clearSelection()
        assert swarm.selected_agent() is None
        card.click(0)
        await wait_until(lambda: on_top(swarm), what="the swarm panel on top")
        selected = swarm.selected_agent()
        assert selected is not None and selected.id == agent.id
        window.close_quietly()


async def test_a_deleted_module_shows_until_an_operator_decides(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    from tests.app.helpers import make_workspace as greeter_workspace
    from tests.app.helpers import workspace_env

    ws = greeter_workspace(tmp_path / "ws")
    async with engine(**workspace_env(ws, watch=True)) as env:
        panel = await open_overview(env.bridge, qtbot)
        card = panel.cards[RELOADS]
        (ws / "tools" / "greeter.py").unlink()
        await wait_until(
            lambda: (
                card.texts()[:1]
                == ["greeter.py deleted · v1 still serves · remove it or restore the file"]
            ),
            what="the deletion listed first",
        )
        assert card.summary_label.text() == "1 deleted module still serving"
        assert env.admin is not None
        await env.node.facade.modules.decide_deletion(env.admin.principal, "greeter", "remove")
        await wait_until(lambda: not card.texts()[0].startswith("greeter.py deleted"))
        assert card.summary_label.text() == ""


async def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(app.shared.overview)
    assert failures == 0 and tried > 0


async def test_close_all_open_incidents_from_the_overview(
    engine: EngineFactory, qtbot: QtBot
) -> None:
    async with engine() as env:
        panel = await open_overview(env.bridge, qtbot, min_interval_ms=20)
        card = panel.cards[ANOMALIES]
        assert card.action_button.isVisible() and not card.action_button.isEnabled()
        await push_spike(env.node)
        await push_spike(env.node, name="other.depth")
        await wait_until(lambda: card.list.count() == 2, within=5, what="two incidents listed")
        assert card.summary_label.text() == "2 open incidents"
        assert card.action_button.isEnabled() and "audit log" in card.action_button.toolTip()
        card.action_button.click()
        await wait_until(lambda: card.list.count() == 0, within=5, what="all closed")
        assert panel.updated_label.text().startswith("Updated") or "Closed 2 incidents" in (
            panel.updated_label.text()
        )
        principal = (await env.node.facade.sessions.login(ADMIN_NAME, ADMIN_PASSWORD)).principal
        assert await env.node.facade.metrics.list_incidents(principal, open_only=True) == []
        assert all(
            a.acknowledged_by == ADMIN_NAME
            for a in await env.node.facade.metrics.list_anomalies(principal)
        )
        await wait_until(lambda: not card.action_button.isEnabled(), what="nothing left")
