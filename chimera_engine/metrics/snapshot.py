"""EngineSnapshot: families read from the stores and the swarm at scrape time.

- ``chimera_patches{state}``: patches of this workspace in each state (every
  state listed, zeros included, so a panel shows the empty ones too);
- ``chimera_llm_tokens_total{provider,model,direction}`` and
  ``chimera_llm_cost_dollars_total{provider,model}``: tokens and dollars spent on
  the patch candidates the code generator recorded (summed from the patch store,
  so they survive a restart and only grow while patches are kept);
- ``chimera_swarm_agents{state}``, ``chimera_swarm_queued_tasks`` and
  ``chimera_agent_memory_bytes{agent,role}`` (resident memory of each live agent).

:meth:`EngineSnapshot.refresh` reads the database (in its reader threads) and the
swarm (on the loop); the families are then immutable until the next refresh.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from chimera_engine.patches.models import PatchState
from chimera_engine.store.db import Database

if TYPE_CHECKING:
    from chimera_engine.swarm.coordinator import SwarmCoordinator


class EngineSnapshot(Collector):
    def __init__(
        self,
        db: Database,
        *,
        workspace: Callable[[], str | None],
        swarm: Callable[[], SwarmCoordinator | None],
    ) -> None:
        self._db = db
        self._workspace = workspace
        self._swarm = swarm
        self._prepared: list[Metric] = []

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._prepared

    async def refresh(self) -> None:
        workspace = self._workspace()
        rows: tuple[list[Any], list[Any]] = ([], [])
        if workspace is not None:
            rows = await self._db.read(lambda c: _patch_rows(c, workspace))
        self._prepared = [*_patches(*rows), *self._swarm_families()]

    def _swarm_families(self) -> list[Metric]:
        agents = Metric("chimera_swarm_agents", "Swarm agents by state", "gauge")
        queued = Metric("chimera_swarm_queued_tasks", "Swarm tasks waiting for an agent", "gauge")
        memory = Metric(
            "chimera_agent_memory_bytes", "Resident memory of each live swarm agent", "gauge"
        )
        swarm = self._swarm()
        if swarm is not None:
            states: dict[str, int] = {}
            for agent in swarm.agents():
                states[agent.state.value] = states.get(agent.state.value, 0) + 1
                if not agent.state.final:
                    labels = {"agent": agent.id, "role": agent.role}
                    memory.samples.append(Sample(memory.name, labels, agent.rss_bytes))
            for state, n in sorted(states.items()):
                agents.samples.append(Sample(agents.name, {"state": state}, n))
            queued.samples.append(Sample(queued.name, {}, swarm.stats().queued))
        return [agents, queued, memory]


def _patch_rows(conn: sqlite3.Connection, workspace: str) -> tuple[list[Any], list[Any]]:
    states = list(
        conn.execute(
            "SELECT state, COUNT(*) FROM patches WHERE workspace = ? GROUP BY state", (workspace,)
        )
    )
    spend = list(
        conn.execute(
            "SELECT provider, model, SUM(input_tokens), SUM(output_tokens), "
            "COALESCE(SUM(cost_usd), 0) FROM patches WHERE workspace = ? "
            "GROUP BY provider, model",
            (workspace,),
        )
    )
    return states, spend


def _patches(states: list[Any], spend: list[Any]) -> list[Metric]:
    patches = Metric("chimera_patches", "Patches of this workspace by state", "gauge")
    counts = {s.value: 0 for s in PatchState}
    counts.update({str(state): int(n) for state, n in states})
    for state, n in sorted(counts.items()):
        patches.samples.append(Sample(patches.name, {"state": state}, n))
    tokens = Metric(
        "chimera_llm_tokens", "LLM tokens spent on recorded patch candidates", "counter"
    )
    cost = Metric(
        "chimera_llm_cost_dollars", "LLM cost in US dollars of recorded patch candidates", "counter"
    )
    for provider, model, tokens_in, tokens_out, dollars in spend:
        for direction, n in (("input", tokens_in), ("output", tokens_out)):
            labels = {"provider": provider, "model": model, "direction": direction}
            tokens.samples.append(Sample("chimera_llm_tokens_total", labels, float(n or 0)))
        labels = {"provider": provider, "model": model}
        cost.samples.append(Sample("chimera_llm_cost_dollars_total", labels, float(dollars)))
    return [patches, tokens, cost]
