"""What the Swarm panel's tables show: agents, tasks, attempts and votes.

Columns are :class:`~app.shared.records.Column` descriptions over the engine's
snapshots (:class:`AgentInfo`, :class:`TaskInfo`, :class:`Ballot`) and over
attempt rows (``swarm_attempts`` dicts). States read as coloured badges; the
same colours paint the task-graph view's nodes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from app.shared.badges import NEUTRAL_COLOURS, Badge
from app.shared.formatting import format_clock, format_ms
from app.shared.records import Column
from chimera_engine.swarm.ballots import AGREED, DISSENT, DUPLICATE, Ballot
from chimera_engine.swarm.models import AgentInfo, TaskInfo

GREEN = "#05603a"
RED = "#b42318"
AMBER = "#93370d"
GREY = "#7b8794"

#: Task states: grey waiting, blue on an agent, amber lost its agent, then the outcome.
TASK_COLOURS: dict[str, tuple[str, str]] = {
    "pending": ("#3e4c59", "#e4e7eb"),
    "assigned": ("#0e7490", "#dff4fa"),
    "running": ("#1d5bd8", "#e4edfd"),
    "reassigned": ("#93370d", "#fef0c7"),
    "succeeded": ("#05603a", "#d1fadf"),
    "failed": ("#b42318", "#fee4e2"),
    "cancelled": ("#52606d", "#f0f2f4"),
    "quarantined": ("#6941c6", "#f0e9ff"),
}
AGENT_COLOURS: dict[str, tuple[str, str]] = {
    "starting": ("#1d5bd8", "#e4edfd"),
    "ready": ("#05603a", "#d1fadf"),
    "stopping": ("#93370d", "#fef0c7"),
    "stopped": ("#52606d", "#f0f2f4"),
    "killed": ("#b42318", "#fee4e2"),
    "dead": ("#b42318", "#fee4e2"),
    "refused": ("#b42318", "#fee4e2"),
}
VERDICT_COLOURS: dict[str, tuple[str, str]] = {
    AGREED: ("#05603a", "#d1fadf"),
    DISSENT: ("#b42318", "#fee4e2"),
    DUPLICATE: ("#93370d", "#fef0c7"),
}
#: A live agent silent for longer than this many seconds reads as late.
LATE_HEARTBEAT_S = 2.0


def task_colours(state: str) -> tuple[str, str]:
    return TASK_COLOURS.get(state, NEUTRAL_COLOURS)


def _badge(colours: dict[str, tuple[str, str]], state: str, rest: str = "") -> Badge:
    fg, bg = colours.get(state, NEUTRAL_COLOURS)
    return Badge(state, fg, bg, rest)


def short_id(value: str, n: int = 8) -> str:
    """The first ``n`` characters of a hex id (tables show those; tooltips the rest).

    >>> short_id("3f2a9c0d5e6f7a8b"), short_id("executor-1a2b3c4d")
    ('3f2a9c0d', 'executor-1a2b3c4d')
    """
    return value[:n] if len(value) > 12 and "-" not in value else value


def format_bytes(n: int) -> str:
    """Memory in MB (GB past 10,000 MB); a dash for unknown.

    >>> format_bytes(0), format_bytes(38_900_000), format_bytes(12_500_000_000)
    ('—', '37.1 MB', '11.6 GB')
    """
    if n <= 0:
        return "—"
    mb = n / 2**20
    return f"{mb / 1024:.1f} GB" if mb >= 10_000 else f"{mb:.1f} MB"


def format_value(value: Any, limit: int = 80) -> str:
    """A JSON value on one line, shortened to ``limit`` characters.

    >>> format_value({"a": [1, 2]}), format_value("x" * 100, 10), format_value(None)
    ('{"a": [1, 2]}', '"xxxxxxxx…', 'null')
    """
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- agents --------------------------------------------------------------------------------
def heartbeat_text(agent: AgentInfo, now: float | None = None) -> str:
    if agent.state.final:
        return "—"
    age = agent.heartbeat_age(time.time() if now is None else now)
    return "none yet" if age is None else f"{age:.1f} s ago"


def _heartbeat_colour(agent: AgentInfo) -> str | None:
    age = agent.heartbeat_age(time.time())
    if agent.state.final or age is None:
        return GREY
    return RED if age > LATE_HEARTBEAT_S else None


def load_text(agent: AgentInfo) -> str:
    return f"{agent.in_flight} / {agent.concurrency}"


def cpu_text(agent: AgentInfo) -> str:
    return "—" if agent.cpu_percent is None or agent.state.final else f"{agent.cpu_percent:.1f} %"


def _agent_tip(agent: AgentInfo) -> str:
    lines = [
        f"{agent.id} · {agent.backend} · pid {agent.pid or '—'} on {agent.host or '—'}",
        f"capabilities: {', '.join(agent.capabilities) or 'none'}",
        f"started {format_clock(agent.started_at)}" if agent.started_at else "",
    ]
    if agent.reason:
        lines.append(agent.reason)
    return "\n".join(line for line in lines if line)


def _details(agent: AgentInfo) -> str:
    """Why a finished agent ended; what a live one offers beyond its role."""
    if agent.state.final or agent.reason:
        return agent.reason
    return ", ".join(agent.capabilities)


AGENT_COLUMNS: list[Column[AgentInfo]] = [
    Column("Agent", lambda a: a.id, 168, tooltip=_agent_tip),
    Column("Role", lambda a: a.role, 84),
    Column(
        "State",
        lambda a: a.state.value,
        96,
        badge=lambda a: _badge(AGENT_COLOURS, a.state.value),
        tooltip=lambda a: a.reason or a.state.value,
    ),
    Column(
        "Load",
        load_text,
        64,
        right=True,
        sort=lambda a: a.in_flight / max(1, a.concurrency),
        tooltip=lambda a: "Tasks held (running or queued on it) / tasks it runs at once",
    ),
    Column(
        "Reputation",
        lambda a: f"{a.reputation:.2f}",
        104,
        right=True,
        sort=lambda a: a.reputation,
        colour=lambda a: RED if a.reputation < 0.3 else None,
    ),
    Column("RSS", lambda a: format_bytes(a.rss_bytes), 80, right=True, sort=lambda a: a.rss_bytes),
    Column(
        "CPU",
        cpu_text,
        66,
        right=True,
        sort=lambda a: a.cpu_percent or 0.0,
        tooltip=lambda a: "Percent of one core over the last second",
    ),
    Column(
        "Heartbeat",
        heartbeat_text,
        96,
        right=True,
        colour=_heartbeat_colour,
        sort=lambda a: a.heartbeat_age(time.time()) or 0.0,
    ),
    Column(
        "Done / failed",
        lambda a: f"{a.completed} / {a.failed}",
        114,
        right=True,
        sort=lambda a: a.completed,
    ),
    Column("PID", lambda a: str(a.pid or "—"), 66, right=True, sort=lambda a: a.pid or 0),
    Column("Capabilities / reason", _details, 160, tooltip=_agent_tip),
]


# -- tasks ---------------------------------------------------------------------------------
def task_short(task_id: str) -> str:
    """How a task id reads in a table: the first characters of a plain id, the step of a
    graph task (its graph has a column of its own).

    >>> task_short("3f2a9c0d5e6f7a8b9c0d"), task_short("744938f0fc91-s0.c2")
    ('3f2a9c0d', 's0.c2')
    """
    head, sep, tail = task_id.rpartition("-")
    return tail if sep and head and tail else short_id(task_id)


def task_label(task: TaskInfo) -> str:
    """What a task runs: its tool (with the version it ran) or its prompt."""
    if task.tool:
        return task.tool + (f" v{task.tool_version}" if task.tool_version else "")
    return f"prompt: {task.prompt or ''}"


def consensus_text(task: TaskInfo) -> str:
    outcome = task.consensus
    if not outcome:
        return ""
    status = str(outcome.get("status", ""))
    if status == "agreed":
        winners = len(outcome.get("winners") or ())
        return f"agreed {winners}/{outcome.get('expected', winners)}"
    return status.replace("_", " ")


def outcome_text(task: TaskInfo) -> str:
    """The result once succeeded, else the error (with its code)."""
    if task.state.value == "succeeded":
        return format_value(task.result)
    if task.error:
        return f"{task.error_code}: {task.error}" if task.error_code else task.error
    return task.error_code


def attempts_text(task: TaskInfo) -> str:
    crashed = f" ({task.crashes} crashed)" if task.crashes else ""
    return f"{task.attempts}{crashed}"


TASK_COLUMNS: list[Column[TaskInfo]] = [
    Column("Task", lambda t: task_short(t.id), 80, tooltip=lambda t: t.id),
    Column("Tool", task_label, 122, tooltip=lambda t: t.prompt or t.tool or ""),
    Column(
        "State",
        lambda t: t.state.value,
        104,
        badge=lambda t: _badge(TASK_COLOURS, t.state.value),
    ),
    Column("Agent", lambda t: t.agent or "—", 136),
    Column(
        "Consensus",
        consensus_text,
        100,
        colour=lambda t: GREEN if consensus_text(t).startswith("agreed") else RED,
    ),
    Column(
        "Attempts",
        attempts_text,
        82,
        right=True,
        sort=lambda t: t.attempts,
        colour=lambda t: AMBER if t.crashes else None,
        tooltip=lambda t: (
            "Attempts made (of which lost an agent that died while running them: "
            "the task is suspected)"
        ),
    ),
    Column(
        "Result / error",
        outcome_text,
        170,
        colour=lambda t: RED if t.state.value in ("failed", "quarantined") else None,
        tooltip=outcome_text,
    ),
    Column("Role", lambda t: t.role, 76),
    Column(
        "Graph",
        lambda t: short_id(t.graph_id) if t.graph_id else "",
        80,
        tooltip=lambda t: t.graph_id,
    ),
    Column(
        "Updated",
        lambda t: format_clock(t.updated_at),
        72,
        sort=lambda t: t.updated_at,
    ),
]


# -- attempts and votes --------------------------------------------------------------------
Attempt = dict[str, Any]


def _attempt_ms(row: Attempt) -> str:
    ms = row.get("ms")
    return format_ms(float(ms)) if isinstance(ms, int | float) else "—"


def _attempt_colour(row: Attempt) -> str | None:
    outcome = str(row.get("outcome") or "")
    if outcome == "ok":
        return GREEN
    return AMBER if outcome == "agent_lost" else RED if outcome else GREY


ATTEMPT_COLUMNS: list[Column[Attempt]] = [
    Column("Replica", lambda r: str(r.get("replica", "")), 64, right=True),
    Column("Agent", lambda r: str(r.get("agent") or "—"), 168),
    Column("Outcome", lambda r: str(r.get("outcome") or "running"), 100, colour=_attempt_colour),
    Column("Duration", _attempt_ms, 84, right=True),
    Column(
        "Started",
        lambda r: format_clock(float(r["started_at"])) if r.get("started_at") else "—",
        72,
    ),
    Column(
        "Error",
        lambda r: str(r.get("error") or ""),
        200,
        tooltip=lambda r: str(r.get("error") or ""),
    ),
]


def ballot_value(ballot: Ballot) -> str:
    if not ballot.known:
        return "not recorded"
    return ballot.preview or format_value(ballot.value)


def _verdict(ballot: Ballot) -> Badge:
    label = ballot.verdict or "undecided"
    fg, bg = VERDICT_COLOURS.get(ballot.verdict, NEUTRAL_COLOURS)
    return Badge(label, fg, bg)


BALLOT_COLUMNS: list[Column[Ballot]] = [
    Column("Agent", lambda b: b.agent, 146),
    Column("Value", ballot_value, 80, tooltip=ballot_value),
    Column(
        "Confidence",
        lambda b: f"{b.confidence:.2f}" if b.known else "—",
        104,
        right=True,
    ),
    Column(
        "Weight",
        lambda b: f"{b.weight:.2f}" if b.known else "—",
        76,
        right=True,
        tooltip=lambda b: "What the vote counted for (confidence × reputation when weighted)",
    ),
    Column("Verdict", lambda b: b.verdict or "undecided", 96, badge=_verdict),
]
