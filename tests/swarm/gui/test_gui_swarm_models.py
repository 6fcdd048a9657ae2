"""The Swarm panel's models and widgets without an engine: the graph layout and view,
the event feed's folding and throttling, the task filters, background reads that do
not count as busy, and the modules' doctests."""

from __future__ import annotations

import asyncio
import doctest
from types import ModuleType

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.panels.swarm import commands as swarm_commands
from app.panels.swarm import detail as swarm_detail
from app.panels.swarm import dialogs as swarm_dialog
from app.panels.swarm import filter as swarm_filter
from app.panels.swarm import graph as swarm_graph
from app.panels.swarm import inputs as swarm_inputs
from app.panels.swarm import rows as swarm_rows
from app.panels.swarm import widgets as swarm_widgets
from app.panels.swarm.filter import STATE_FILTERS, TaskFilter, state_counts
from app.panels.swarm.graph import layout
from app.panels.swarm.task_graph import TaskGraphView
from app.shared.records import RecordTableModel
from app.shared.swarm_feed import SwarmDigest, SwarmFeed
from app.tasks import TaskRunner
from chimera_engine.events import Event
from chimera_engine.swarm.events import ConsensusDecided, TaskChanged
from chimera_engine.swarm.models import TaskInfo, TaskState


def task(tid: str, *deps: str, state: str = "pending", tool: str = "t", **kw: object) -> TaskInfo:
    fields: dict[str, object] = {
        "graph_id": "g",
        "tool": tool,
        "tool_version": 1,
        "prompt": None,
        "role": "executor",
        "state": TaskState(state),
        "priority": 0,
        "idempotency_key": tid,
        "attempts": 0,
        "crashes": 0,
        "agent": "",
        "result": None,
        "error": "",
        "error_code": "",
        "consensus": None,
        "created_at": 1.0,
        "updated_at": 1.0,
        "finished_at": None,
        "deadline": None,
        "depends_on": deps,
        **kw,
    }
    return TaskInfo(id=tid, **fields)  # type: ignore[arg-type]


JOB = [
    task("g-s0.c0", created_at=1.0),
    task("g-s0.c1", created_at=2.0),
    task("g-s0.c2", created_at=3.0),
    task("g-s0.agg", "g-s0.c0", "g-s0.c1", "g-s0.c2", tool="merge", created_at=4.0),
    task("g-s1", "g-s0.agg", tool="report", created_at=5.0),
]


@pytest.mark.parametrize(
    "module",
    [
        swarm_rows,
        swarm_graph,
        swarm_filter,
        swarm_inputs,
        swarm_dialog,
        swarm_commands,
        swarm_detail,
        swarm_widgets,
    ],
)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.failed == 0 and result.attempted > 0


def test_layout_puts_tasks_in_columns_by_dependency_depth() -> None:
    placed = layout(JOB)
    assert placed.columns == 3
    assert [placed.nodes[t.id].depth for t in JOB] == [0, 0, 0, 1, 2]
    assert [placed.nodes[t].row for t in ("g-s0.c0", "g-s0.c1", "g-s0.c2")] == [0, 1, 2]
    chunk_ys = [placed.nodes[t.id].y for t in JOB[:3]]
    agg, report = placed.nodes["g-s0.agg"], placed.nodes["g-s1"]
    assert agg.y == report.y == chunk_ys[1]  # single nodes centred on the tallest column
    assert agg.x > placed.nodes["g-s0.c0"].x and report.x > agg.x
    assert sorted(placed.edges) == sorted(
        [
            ("g-s0.c0", "g-s0.agg"),
            ("g-s0.c1", "g-s0.agg"),
            ("g-s0.c2", "g-s0.agg"),
            ("g-s0.agg", "g-s1"),
        ]
    )
    assert placed.width > 0 and placed.height == chunk_ys[2] + swarm_graph.NODE_H


def test_graph_view_recolours_nodes_in_place(qtbot: QtBot) -> None:
    view = TaskGraphView()
    qtbot.addWidget(view)
    view.resize(600, 300)
    view.show_graph("g", JOB, selected="g-s0.c1")
    assert len(view.nodes) == 5 and view.nodes["g-s0.c1"].selected
    nodes_before = dict(view.nodes)
    shown = view.set_states({"g-s0.c0": "succeeded", "g-s0.c2": "running", "other": "failed"})
    assert shown == 2 and view.nodes == nodes_before  # the same items, no new layout
    assert view.states()["g-s0.c0"] == "succeeded" and view.states()["g-s0.c2"] == "running"
    with qtbot.waitSignal(view.taskClicked) as clicked:
        node = view.nodes["g-s1"]
        centre = view.mapFromScene(node.sceneBoundingRect().center())
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert clicked.args == ["g-s1"]
    assert view.transform().m11() >= 0.6  # never below a legible scale


async def test_feed_folds_events_into_few_digests() -> None:
    loop = asyncio.get_running_loop()
    digests: list[SwarmDigest] = []
    times: list[float] = []
    arrived = asyncio.Event()

    def emit(digest: SwarmDigest) -> None:
        digests.append(digest)
        times.append(loop.time())
        arrived.set()

    feed = SwarmFeed(emit, interval=0.05)
    events: list[Event] = [
        TaskChanged(task_id=f"t{i % 10}", state="assigned", graph_id="g" if i % 2 else "")
        for i in range(1000)
    ]
    for event in events:
        feed.add(event)
    feed.add(TaskChanged(task_id="t1", state="succeeded", agent="a", graph_id="g"))
    feed.add(ConsensusDecided(task_id="t1", outcome={"status": "agreed"}))
    assert digests == [] and feed.pending == 1002
    await asyncio.wait_for(arrived.wait(), 1.0)  # the first leaves at once after a quiet spell
    (digest,) = digests
    assert len(digest.tasks) == 10 and digest.events == 1002
    assert digest.tasks["t1"].state == "succeeded" and digest.decided["t1"]["status"] == "agreed"
    assert digest.graphs() == {"g"}
    arrived.clear()
    feed.add(TaskChanged(task_id="t2", state="running"))
    feed.add(TaskChanged(task_id="t2", state="succeeded"))
    await asyncio.wait_for(arrived.wait(), 1.0)
    assert len(digests) == 2 and times[1] - times[0] >= 0.045  # held back for the interval
    assert digests[1].tasks["t2"].state == "succeeded" and digests[1].events == 2
    arrived.clear()
    feed.add(TaskChanged(task_id="t3", state="running"))
    feed.close()
    await asyncio.sleep(0.08)
    assert len(digests) == 2 and feed.pending == 0


def test_task_filters_by_state_scope_and_text(qtbot: QtBot) -> None:
    rows = [
        task("a1", state="succeeded", tool="add"),
        task("a2", state="failed", tool="add", error="ValueError: boom"),
        task("b1", state="running", tool="count", role="analyzer"),
        task("b2", state="quarantined", tool="count", agent="executor-9"),
    ]
    model: RecordTableModel[TaskInfo] = RecordTableModel(swarm_rows.TASK_COLUMNS, lambda t: t.id)
    model.set_rows(rows)
    proxy = TaskFilter()
    proxy.setSourceModel(model)
    failed = dict(STATE_FILTERS)["Failed"]
    proxy.set_filter(states=failed)
    assert proxy.rowCount() == 2
    proxy.set_filter(scope="tool:add")
    assert proxy.rowCount() == 1
    proxy.set_filter(states=frozenset(), scope="role:analyzer")
    assert proxy.rowCount() == 1
    proxy.set_filter(scope="", text="BOOM")
    assert proxy.rowCount() == 1
    proxy.set_filter(text="executor-9 count")
    assert proxy.rowCount() == 1
    assert state_counts(rows) == [4, 1, 1, 0, 1, 2, 0]


async def test_background_reads_do_not_count_as_busy() -> None:
    changes: list[bool] = []
    runner = TaskRunner(
        asyncio.get_running_loop(), busy_changed=changes.append, show_error=lambda *_: None
    )

    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    got: list[int] = []
    await runner.run(answer(), got.append, None, "read", busy=False)
    assert got == [42] and changes == [] and not runner.busy
    await runner.run(answer(), got.append, None, "act")
    assert changes == [True, False]


def test_two_votes_from_one_agent_never_read_as_agreed_2_of_2() -> None:
    from chimera_engine.swarm.ballots import ConsensusRecord, ballots_json
    from chimera_engine.swarm.consensus import ConsensusEngine, Vote
    from chimera_engine.swarm.models import ConsensusPolicy

    votes = [Vote("w1", 42), Vote("w1", 42)]
    outcome = ConsensusEngine().decide(votes, ConsensusPolicy(), expected=2)
    recorded = {**outcome.to_json(), "ballots": ballots_json(votes, outcome)}
    record = ConsensusRecord.from_outcome("t", recorded)
    text, severity = swarm_detail.consensus_summary(record)
    assert not record.agreed and severity == "critical"
    assert "1 of 2 votes cast" in text and "not counted (one vote per agent)" in text
    assert [b.verdict for b in record.ballots] == ["", "duplicate"]


def test_stats_line_says_since_when_the_scheduler_is_unreachable() -> None:
    from chimera_engine.swarm.coordinator import SwarmStats

    stats = SwarmStats(
        backend="dask",
        agents=0,
        agents_ready=0,
        queued=7,
        unfinished=7,
        completed=0,
        late_replies=0,
        duplicates_suppressed=0,
        respawns=0,
        round_trip_p50_ms=0.0,
        round_trip_p99_ms=0.0,
        scheduler="tcp://sched:8786",
        scheduler_unreachable_since=1_800_000_000.0,
        scheduler_error="connection refused",
    )
    text = swarm_widgets.stats_text(stats)
    assert text.startswith("Scheduler tcp://sched:8786 unreachable since 2027-")
    assert "queued work waits" in text and "7 unfinished (7 queued)" in text


async def test_the_console_loop_holds_never_firing_timers() -> None:
    import math

    from app.qt_loop import ConsoleEventLoop

    loop = asyncio.get_running_loop()
    assert isinstance(loop, ConsoleEventLoop)  # the same loop the console runs on
    fired: list[str] = []
    never = loop.call_later(math.inf, fired.append, "never")
    async with asyncio.timeout(math.inf):  # what the Dask client does for each connection
        await asyncio.sleep(0.01)
    never.cancel()
    soon = loop.call_later(0.01, fired.append, "soon")
    await asyncio.sleep(0.05)
    assert fired == ["soon"] and not soon.cancelled()
