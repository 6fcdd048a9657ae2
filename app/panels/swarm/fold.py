"""Swarm digests folded into the rows the Swarm panel lists (pure functions, no Qt).

A :class:`~app.shared.swarm_feed.SwarmDigest` changes some agents and tasks the
panel already lists. These functions give the rows after the change and say
when the panel must read the list again: a task it does not list yet, or one
that finished (its result and error come only with a read).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from app.shared.swarm_feed import SwarmDigest
from chimera_engine.swarm.models import AgentInfo, TaskInfo, TaskState

#: Finished agents kept in the table (most recent first, after the live ones).
FINISHED_AGENTS_SHOWN = 12


def order_agents(agents: Iterable[AgentInfo]) -> list[AgentInfo]:
    """Live agents in the order they started, then the most recently finished ones."""
    listed = list(agents)
    live = sorted((a for a in listed if not a.state.final), key=lambda a: (a.started_at, a.id))
    gone = sorted((a for a in listed if a.state.final), key=lambda a: -a.started_at)
    return live + gone[:FINISHED_AGENTS_SHOWN]


def fold_agents(
    listed: Iterable[AgentInfo], changed: Mapping[str, tuple[AgentInfo, str]]
) -> list[AgentInfo]:
    """The agent rows after ``changed`` (agent id -> snapshot, change), in table order.

    An event's snapshot carries no CPU sample: a live agent keeps its last sampled CPU
    and memory until the next read.
    """
    current = {a.id: a for a in listed}
    for agent_id, (info, _change) in changed.items():
        old = current.get(agent_id)
        if old is not None and not info.state.final and info.cpu_percent is None:
            info = dataclasses.replace(
                info, cpu_percent=old.cpu_percent, rss_bytes=info.rss_bytes or old.rss_bytes
            )
        current[agent_id] = info
    return order_agents(current.values())


@dataclass(frozen=True)
class FoldedTasks:
    """The task rows after a digest; ``changed`` if a listed row changed, ``read_again``
    if the list must be read from the engine (unknown or finished tasks)."""

    rows: list[TaskInfo]
    changed: bool
    read_again: bool


def fold_tasks(listed: Sequence[TaskInfo], digest: SwarmDigest, now: float) -> FoldedTasks:
    """Apply the digest's task states and consensus outcomes to the listed rows."""
    rows = list(listed)
    index = {t.id: i for i, t in enumerate(rows)}
    unknown = changed = False
    for task_id, event in digest.tasks.items():
        row = index.get(task_id)
        if row is None:
            unknown = True
            continue
        old = rows[row]
        rows[row] = dataclasses.replace(
            old,
            state=TaskState(event.state),
            agent=event.agent or old.agent,
            error_code=event.error_code or old.error_code,
            updated_at=now,
        )
        changed = True
        if rows[row].state.final:
            unknown = True  # the result and error come with a re-read
    for task_id, outcome in digest.decided.items():
        row = index.get(task_id)
        if row is not None:
            rows[row] = dataclasses.replace(rows[row], consensus=dict(outcome))
            changed = True
    return FoldedTasks(rows, changed, unknown)
