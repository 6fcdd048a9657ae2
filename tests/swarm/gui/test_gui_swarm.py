"""The Swarm panel against a real engine whose agents are real processes.

Spawning from the panel shows the agents; killing one (SIGKILL through the
facade) shows its task reassigned to another agent and completed; an observer
sees every action disabled with the missing permission named; submitting from
the panel runs work in the engine, and what the engine does shows in the panel
(consensus votes, a task graph with live states).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.bridge import EngineBridge
from app.panels.swarm.dialogs import SpawnAgentsDialog
from app.panels.swarm.submit_dialog import SubmitTaskDialog
from app.panels.swarm.view import SwarmPanel
from app.widgets.confirm import action_button
from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.decomposer import Job
from chimera_engine.swarm.models import AgentSpec, AgentState, Task
from tests.app.conftest import EngineFactory
from tests.app.helpers import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    audit_entries,
    make_workspace,
    wait_signal,
    wait_until,
    workspace_env,
)

pytestmark = pytest.mark.asyncio

TOOLS = '''"""Swarm tools for the panel tests."""

import os
import time

from chimera_engine.tooling import tool


@tool(description="Sleep, then say how long")
def slow(seconds: float = 0.5) -> float:
    time.sleep(seconds)
    return seconds


@tool(description="Ten times x; agents started with SWARM_LIAR=1 are off by one")
def tenfold(x: int) -> int:
    return x * 10 + (1 if os.environ.get("SWARM_LIAR") else 0)


@tool(description="How many rows")
def count(rows: list) -> int:
    time.sleep(0.05)
    return len(rows)


@tool(description="The sum of the chunk counts")
def total(results: list) -> int:
    return sum(results)
'''

SWARM_ENV = {
    "CHIMERA_SWARM__HEARTBEAT_INTERVAL": "0.2",
    "CHIMERA_SWARM__HEARTBEAT_TIMEOUT": "2.0",
    "CHIMERA_SWARM__STOP_GRACE": "2.0",
    "CHIMERA_API__ENABLED": "false",
}
TIMEOUT = 15.0


def swarm_env(tmp_path: Path) -> dict[str, str]:
    workspace = make_workspace(tmp_path / "ws", swarmtools=TOOLS)
    return {**workspace_env(workspace), **SWARM_ENV}


async def open_panel(bridge: EngineBridge, qtbot: QtBot, user: str = ADMIN_NAME) -> SwarmPanel:
    await bridge.login(user, ADMIN_PASSWORD)
    panel = SwarmPanel(bridge)
    qtbot.addWidget(panel)
    panel.resize(1240, 760)
    panel.show()
    await wait_signal(panel.tasksLoaded)
    return panel


def live_agents(panel: SwarmPanel) -> list[str]:
    return [
        a.id
        for a in panel.agent_model.records()
        if a.state is AgentState.READY and not a.state.final
    ]


def task_row(panel: SwarmPanel, task_id: str) -> dict[str, str]:
    row = panel.task_model.row_of(task_id)
    if row < 0:
        return {}
    texts = panel.task_model.texts()[row]
    return {c.title: texts[i] for i, c in enumerate(panel.task_model.columns)}


async def spawn_from_panel(panel: SwarmPanel, count: int, concurrency: int = 1) -> None:
    panel.action_bar.spawn_button.click()
    dialog = panel.commands.dialog
    assert isinstance(dialog, SpawnAgentsDialog)
    dialog.count_spin.setValue(count)
    dialog.concurrency_spin.setValue(concurrency)
    dialog.submit_button.click()
    action, ok, text = await wait_signal(panel.actionFinished, TIMEOUT)
    assert (action, ok) == ("spawn", True), text


async def test_spawn_then_kill_reassigns_the_task(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with engine(**swarm_env(tmp_path)) as env:
        panel = await open_panel(env.bridge, qtbot)
        assert panel.agent_model.rowCount() == 0

        # widget -> engine: two agents spawned from the panel, ready in the engine
        await spawn_from_panel(panel, 2)
        await wait_until(lambda: len(live_agents(panel)) == 2, TIMEOUT, "two agent rows")
        admin = env.bridge.principal
        engine_agents = await env.node.facade.swarm.agents(admin)
        assert sorted(live_agents(panel)) == sorted(a.id for a in engine_agents)
        # memory and CPU are sampled by the engine (once a second), read by the panel
        await wait_until(
            lambda: all(r[6].endswith("%") for r in panel.agent_model.texts()), TIMEOUT, "CPU"
        )
        first = panel.agent_model.record(0)
        cells = panel.agent_model.texts()[0]
        assert first.pid and cells[1] == "executor" and cells[3] == "0 / 1"
        assert cells[5].endswith("MB") and cells[7].endswith("s ago")
        spawned = await audit_entries(env.node, "swarm.agent.spawn")
        assert sum(e.actor == ADMIN_NAME for e in spawned) == 2

        # engine -> widget: a task submitted engine-side shows running on its agent
        (info,) = await env.node.facade.swarm.submit(
            admin, [Task(tool="slow", inputs={"seconds": 1.5})]
        )
        await wait_until(
            lambda: task_row(panel, info.id).get("State") == "running", TIMEOUT, "task running"
        )
        victim = (await env.node.facade.swarm.task(admin, info.id)).agent
        assert task_row(panel, info.id)["Agent"] == victim

        # kill -9 from the panel, confirmed; the task moves to the other agent and completes
        assert panel.select_agent(victim)
        panel.action_bar.kill_button.click()
        box = panel.commands.confirm_box
        assert box is not None and victim in box.text()
        action_button(box).click()
        action, ok, text = await wait_signal(panel.actionFinished, TIMEOUT)
        assert (action, ok) == ("kill", True) and "reassigned" in text
        await wait_until(
            lambda: task_row(panel, info.id).get("State") == "succeeded", TIMEOUT, "task done"
        )
        row = task_row(panel, info.id)
        assert row["Agent"] not in ("", victim) and row["Attempts"] == "2"
        killed = panel.agent_model.record(panel.agent_model.row_of(victim))
        assert killed.state is AgentState.KILLED
        assert panel.select_task(info.id)
        await wait_signal(panel.detailShown, TIMEOUT)
        attempts = panel.detail.attempt_model.texts()
        assert [(r[1], r[2]) for r in attempts] == [(victim, "agent_lost"), (row["Agent"], "ok")]
        kills = await audit_entries(env.node, "swarm.agent.kill")
        assert [(e.actor, e.target) for e in kills if e.action == "swarm.agent.kill"] == [
            (ADMIN_NAME, victim)
        ]


async def test_an_observer_sees_the_actions_disabled(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with engine(**swarm_env(tmp_path)) as env:
        assert env.admin is not None
        admin = env.admin.principal
        await env.node.facade.admin.create_user(admin, "otto", ADMIN_PASSWORD, "observer")
        (agent,) = await env.node.facade.swarm.spawn_many(admin, AgentSpec(concurrency=1), 1)
        (task,) = await env.node.facade.swarm.submit(
            admin, [Task(tool="slow", inputs={"seconds": 5.0})]
        )
        panel = await open_panel(env.bridge, qtbot, "otto")
        await wait_until(lambda: panel.select_agent(agent.id), TIMEOUT, "agent listed")
        await wait_until(lambda: panel.select_task(task.id), TIMEOUT, "task listed")
        bar = panel.action_bar
        for button, permission in (
            (bar.spawn_button, "swarm.spawn"),
            (bar.stop_button, "swarm.spawn"),
            (bar.kill_button, "swarm.spawn"),
            (bar.submit_button, "swarm.task"),
            (bar.cancel_button, "swarm.task"),
        ):
            assert not button.isEnabled()
            assert permission in button.toolTip() and "otto (observer)" in button.toolTip()
        # reading is allowed: the detail of the selected task is shown
        assert panel.detail.task is not None and panel.detail.task.id == task.id
        # events while the panel is hidden are read once it is shown again
        panel.hide()
        await env.node.facade.swarm.cancel(admin, task.id)
        await wait_until(lambda: panel._stale, TIMEOUT, "the digest noticed while hidden")
        assert task_row(panel, task.id)["State"] == "running"
        panel.show()
        await wait_until(
            lambda: task_row(panel, task.id).get("State") == "cancelled", TIMEOUT, "cancelled"
        )


async def test_submitted_work_shows_votes_and_a_live_graph(
    engine: EngineFactory, qtbot: QtBot, tmp_path: Path
) -> None:
    async with engine(**swarm_env(tmp_path)) as env:
        assert env.admin is not None
        admin: Principal = env.admin.principal
        node: HeartNode = env.node
        await node.facade.swarm.spawn_many(admin, AgentSpec(concurrency=2), 2)
        await node.facade.swarm.spawn(admin, AgentSpec(concurrency=2, env={"SWARM_LIAR": "1"}))
        panel = await open_panel(env.bridge, qtbot)

        # widget -> engine: a redundant task from the submit dialog; bad JSON is refused first
        panel.action_bar.submit_button.click()
        await wait_until(lambda: isinstance(panel.commands.dialog, SubmitTaskDialog), TIMEOUT)
        dialog = panel.commands.dialog
        assert isinstance(dialog, SubmitTaskDialog)
        dialog.tool_combo.setCurrentIndex(dialog.tool_combo.findData("tenfold"))
        assert '"x": null' in dialog.inputs_edit.toPlainText()  # the tool's parameters
        dialog.set_inputs('{"x": 4,}')
        assert "Not valid" in dialog.inputs_status.text()
        dialog.submit_button.click()
        assert dialog.error_label.isVisible() and "not valid JSON" in dialog.error_label.text()
        dialog.set_inputs('{"x": 4}')
        dialog.redundancy_spin.setValue(3)
        dialog.submit_button.click()
        action, ok, text = await wait_signal(panel.actionFinished, TIMEOUT)
        assert (action, ok) == ("submit", True), text
        (latest,) = await node.facade.swarm.history(admin, limit=1)
        assert latest.tool == "tenfold"
        await wait_until(
            lambda: (
                panel.detail.record is not None
                and panel.detail.task is not None
                and panel.detail.task.id == latest.id
            ),
            TIMEOUT,
            "votes shown",
        )
        record = panel.detail.record
        assert record is not None and record.agreed and record.value == 40
        votes = sorted((r[1], r[4]) for r in panel.detail.ballot_model.texts())
        assert votes == [("40", "agreed"), ("40", "agreed"), ("41", "dissent")]
        assert panel.detail.consensus_label.text().startswith("Agreed by majority on 40")
        await wait_until(
            lambda: task_row(panel, latest.id).get("Consensus") == "agreed 2/3", TIMEOUT
        )
        submitted = await audit_entries(node, "swarm.task.submit")
        assert any(e.actor == ADMIN_NAME for e in submitted)

        # engine -> widget: a decomposed job; the graph shows its tasks and their states
        graph = await node.facade.swarm.submit_job(
            admin,
            Job(
                tool="count",
                inputs={"rows": list(range(6))},
                map_over="rows",
                chunk_size=2,
                aggregate="total",
            ),
        )
        out = graph.outputs[-1]
        await wait_until(lambda: panel.select_task(out), TIMEOUT, "job listed")
        view = panel.detail.graph
        await wait_until(lambda: len(view.nodes) == 4, TIMEOUT, "graph drawn")
        assert view.graph_id == graph.id and len(view._edges) == 3
        await wait_until(
            lambda: set(view.states().values()) == {"succeeded"}, TIMEOUT, "graph succeeded"
        )
        assert task_row(panel, out)["Result / error"] == "6"
        # filters: by tool, by state, by text
        filters = panel.filters
        filters.scope_combo.setCurrentIndex(filters.scope_combo.findData("tool:count"))
        assert panel.task_proxy.rowCount() == 3
        filters.scope_combo.setCurrentIndex(0)
        filters.text_edit.setText(latest.id[:10])
        assert panel.task_proxy.rowCount() == 1
