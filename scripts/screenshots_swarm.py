"""The Swarm panel screenshot (``swarm.png``): agents, a live task graph, consensus votes.

A fresh engine runs a small log-crunching workspace. Seven agents are started
(five executors, one of which reads its input with an off-by-one skew and low
confidence, an analyzer and a tester); one executor is then killed from the
panel, confirmed as an operator would. A job is decomposed into a task graph:
the log lines are split into chunks counted by three agents each (weighted
consensus), the counts are merged and a report is rendered. One chunk is slow,
so the graph shows finished, running and waiting tasks at once. A few single
tasks (one failing, one cancelled) fill the tasks list. The window opens on
the Swarm panel with a finished chunk selected: its place in the graph and each
agent's vote, the skewed agent dissenting.

Usage: ``python scripts/screenshots_swarm.py [--out docs/screenshots]``
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QWidget

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import _startup  # noqa: E402  # a sibling of this script

from app.panels.swarm.view import SwarmPanel  # noqa: E402
from app.signals import wait_signal  # noqa: E402
from app.widgets.confirm import action_button  # noqa: E402
from chimera_engine.swarm.decomposer import Job  # noqa: E402
from chimera_engine.swarm.models import (  # noqa: E402
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
)

TIMEOUT_S = 30.0

TOOLS = '''"""Log crunching, spread over the swarm."""

import os
import time

from chimera_engine.tooling import tool

SKEW = int(os.environ.get("LOG_SKEW", "0"))
CONFIDENCE = float(os.environ.get("LOG_CONFIDENCE", "0.9"))


@tool(description="Count the error lines of a chunk of log lines")
def count_errors(lines: list) -> dict:
    time.sleep(25.0 if any("(held)" in line for line in lines) else 0.15)
    errors = sum("ERROR" in line for line in lines) + SKEW
    return {"value": errors, "confidence": CONFIDENCE}


@tool(description="Add up the error counts of the chunks")
def merge_counts(results: list) -> dict:
    return {"value": sum(results), "confidence": 0.95}


@tool(description="One line for the daily report")
def render_report(total: int) -> dict:
    return {"value": f"{total} errors today", "confidence": 0.95}


@tool(description="Fetch a page")
def fetch(url: str) -> str:
    raise ConnectionError(f"connection refused: {url}")
'''

LINES = [
    "10:00:01 INFO api: started",
    "10:00:02 ERROR db: connection refused",
    "10:00:03 INFO api: GET /health",
    "10:00:04 ERROR db: connection refused",
    "10:00:05 WARNING api: slow request",
    "10:00:06 ERROR cache: miss storm",
    "10:00:07 INFO api: GET /orders",
    "10:00:08 ERROR api: timeout",
    "10:00:09 INFO api: GET /orders",
    "10:00:10 INFO api: GET /health",
]


until = partial(_startup.until, timeout=TIMEOUT_S)


async def capture_swarm(out: Path, root: Path, save: Callable[[QWidget, Path], None]) -> None:
    workspace = root / "workspace"
    (workspace / "tools").mkdir(parents=True)
    (workspace / "tools" / "logs.py").write_text(TOOLS, encoding="utf-8")
    env = {
        "CHIMERA_API__ENABLED": "false",
        "CHIMERA_TOOLS__WATCH": "false",
        "CHIMERA_SWARM__STOP_GRACE": "1.0",
        "CHIMERA_SWARM__HEARTBEAT_INTERVAL": "0.25",
    }
    settings = _startup.engine_settings(root / "data", env=env, workspace=workspace)
    async with _startup.running_engine(settings) as node, _startup.console_bridge(node) as bridge:
        facade = node.facade
        admin = (await _startup.first_admin(node)).principal
        executors = await facade.swarm.spawn_many(admin, AgentSpec(concurrency=2), 4)
        skewed = {"LOG_SKEW": "1", "LOG_CONFIDENCE": "0.6"}
        odd = await facade.swarm.spawn(admin, AgentSpec(concurrency=2, env=skewed))
        await facade.swarm.spawn(admin, AgentSpec(role="analyzer", concurrency=2))
        await facade.swarm.spawn(
            admin, AgentSpec(role="tester", concurrency=1, capabilities=frozenset({"sandbox"}))
        )

        await bridge.login("admin", _startup.PASSWORD)
        with _startup.main_window(bridge) as main:
            panel = main.panel("Swarm")
            assert isinstance(panel, SwarmPanel)
            main.resize(1280, 880)  # seven agents, the graph and three votes without scrolling
            main.show()
            main.show_panel("Swarm")
            await until(lambda: panel.agent_model.rowCount() == 7)

            # an operator kills one executor from the panel (confirmed)
            victim = executors[-1].id
            panel.select_agent(victim)
            panel.action_bar.kill_button.click()
            box = panel.commands.confirm_box
            assert box is not None
            action_button(box).click()
            await wait_signal(panel.actionFinished)

            # single tasks: done, failed, cancelled
            singles = await facade.swarm.submit(
                admin,
                [
                    Task(tool="count_errors", inputs={"lines": LINES[:4]}),
                    Task(tool="fetch", inputs={"url": "http://inventory.internal/stock"}),
                    Task(tool="count_errors", inputs={"lines": LINES[4:]}, role="reviewer"),
                ],
            )
            await asyncio.sleep(0.4)
            await facade.swarm.cancel(admin, singles[2].id)

            # the job: chunks counted by three agents each, merged, then reported
            weighted = ConsensusPolicy(method=ConsensusMethod.WEIGHTED)
            lines = [*LINES, "10:00:11 ERROR db: replica lag (held)", *LINES[:5]]
            graph = await facade.swarm.submit_job(
                admin,
                Job(
                    tool="count_errors",
                    inputs={"lines": lines},
                    map_over="lines",
                    chunk_size=4,
                    aggregate="merge_counts",
                    redundancy=3,
                    consensus=weighted,
                    then=[
                        Job(
                            tool="render_report",
                            input_from="total",
                            redundancy=3,
                            consensus=weighted,
                        )
                    ],
                ),
            )
            chunks = [t.id for t in graph.tasks if t.tool == "count_errors"]

            def finished(tid: str) -> bool:
                row = panel.task_model.row_of(tid)
                return row >= 0 and panel.task_model.record(row).state.value == "succeeded"

            await until(lambda: sum(finished(t) for t in chunks) == len(chunks) - 1)

            def dissent(tid: str) -> bool:
                outcome = panel.task_model.record(panel.task_model.row_of(tid)).consensus
                return bool(outcome and outcome.get("dissenters"))

            done = [t for t in chunks if finished(t)]
            shown = next((t for t in done if dissent(t)), done[0])
            panel.select_agent(odd.id)
            await until(lambda: panel.select_task(shown))
            await until(
                lambda: (
                    panel.detail.record is not None
                    and len(panel.detail.graph.nodes) == len(graph.tasks)
                )
            )
            panel.task_table.setFocus()
            # The status bar's loop lag is a p99 over the last 30 s: wait for a sample taken
            # after starting seven agents and building the window has left that window.
            await _startup.settled_lag(bridge, samples=40)
            save(main, out / "swarm.png")


def main() -> int:
    _, out = _startup.shot_arguments(__doc__, None, theme=False)
    _startup.run_console(
        lambda tmp: capture_swarm(out, tmp, _startup.save), prefix="chimera-swarm-shot-"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
