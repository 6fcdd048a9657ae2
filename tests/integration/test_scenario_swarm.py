"""Scenario 2, distributed task processing, through the whole engine: a complex task
is decomposed into a task graph, agents (real processes) run the parts in parallel,
consensus validates redundant results, and every step is in the audit log -- under
an operator's permissions (facade) and an API client's (HTTP API on loopback)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.demo import inputs
from chimera_engine.errors import PermissionDeniedError
from chimera_engine.swarm.decomposer import Job
from chimera_engine.swarm.models import AgentSpec, ConsensusMethod, ConsensusPolicy, TaskState
from tests.integration.scenario_env import scenario

MAJORITY = ConsensusPolicy(method=ConsensusMethod.MAJORITY)


def exports(n: int) -> list[str]:
    return [inputs.orders_csv(random.Random(i), rows=6 + i) for i in range(n)]


async def test_swarm_consensus_with_security(tmp_path: Path) -> None:
    async with scenario(tmp_path) as s:
        facade, people = s.node.facade, s.people
        operator, observer = people.operator.principal, people.observer.principal
        agents = await facade.swarm.spawn_many(operator, AgentSpec(concurrency=2), 3)
        assert {a.state.value for a in agents} == {"ready"}

        # The operator: four exports, each cleaned by three agents, then one summary.
        csvs = exports(4)
        job = Job(
            tool="clean_csv",
            inputs={"text": csvs},
            map_over="text",
            map_item=True,
            aggregate="summarise_cleaned",
            redundancy=3,
            consensus=MAJORITY,
        )
        graph = await facade.swarm.submit_job(operator, job)
        assert len(graph.tasks) == 5 and len(graph.outputs) == 1
        done = await facade.swarm.wait(operator, [t.id for t in graph.tasks], 30)
        assert [t.state for t in done] == [TaskState.SUCCEEDED] * 5, [t.error for t in done]
        local = [await s.node.runtime.call("clean_csv", {"text": t}, operator) for t in csvs]
        by_id = {t.id: t for t in done}
        summary = by_id[graph.outputs[0]].result
        assert summary == {
            "files": 4,
            "rows": sum(r["rows"] for r in local),
            "dropped": sum(r["dropped"] for r in local),
            "columns": ["amount", "currency", "customer", "order_id"],
        }
        cleaned = [t for t in done if t.tool == "clean_csv"]
        assert sorted(c.result["csv"] for c in cleaned) == sorted(r["csv"] for r in local)
        for task in cleaned:
            assert task.consensus is not None and task.consensus["status"] == "agreed"
            assert len(task.consensus["winners"]) == 3
            attempts = await s.node.swarm.store.attempts_of(task.id)
            assert len({a["agent"] for a in attempts}) == 3  # three distinct agents

        # The API client, over HTTP: its own graph, redundant steps agreed the same way.
        plan = [
            {"id": "a", "tool": "clean_csv", "inputs": {"text": csvs[0]}, "redundancy": 3},
            {"id": "b", "tool": "clean_csv", "inputs": {"text": csvs[1]}, "redundancy": 3},
            {
                "id": "sum",
                "tool": "summarise_cleaned",
                "inputs": {"results": {"$refs": ["a", "b"]}},
            },
        ]
        for step in plan[:2]:
            step["consensus"] = {"method": "majority"}
        r = await s.http.post(
            "/api/swarm/task", json={"plan": plan, "wait": 30}, headers=s.client_headers
        )
        assert r.status_code == 201, r.text
        reply = r.json()
        tasks = {t["id"]: t for t in reply["tasks"]}
        assert {t["state"] for t in tasks.values()} == {"succeeded"}
        assert tasks[reply["names"]["sum"]]["result"]["rows"] == local[0]["rows"] + local[1]["rows"]
        for name in ("a", "b"):
            assert tasks[reply["names"][name]]["consensus"]["status"] == "agreed"

        # Refused: an observer may look but not submit; an API client may not spawn agents.
        with pytest.raises(PermissionDeniedError):
            await facade.swarm.submit_job(observer, job)
        r = await s.http.post(
            "/api/swarm/task",
            json={"tool": "clean_csv", "inputs": {"text": csvs[0]}},
            headers=s.bearer(people.observer),
        )
        assert r.status_code == 403, r.text
        r = await s.http.post(
            "/api/swarm/spawn", json={"role": "executor"}, headers=s.client_headers
        )
        assert r.status_code == 403, r.text
        seen = await s.http.get("/api/swarm/agents", headers=s.bearer(people.observer))
        assert seen.status_code == 200 and len(seen.json()["agents"]) == 3

        # Every step is in the audit log, and the chain verifies.
        await s.node.security.audit.flush()
        entries = await s.node.security.audit.query(AuditQuery(action_prefix="swarm.", limit=1000))
        spawned = [e for e in entries if e.action == "swarm.agent.spawn" and e.outcome == "ok"]
        assert [e.actor for e in spawned] == ["olga"] * 3
        submitters = {e.actor for e in entries if e.action == "swarm.task.submit"}
        assert "olga" in submitters and len(submitters) == 2  # the operator and the client
        redundant = len(cleaned) + 2
        votes = [e for e in entries if e.action == "swarm.vote"]
        decided = [e for e in entries if e.action == "swarm.consensus"]
        assert len(votes) == 3 * redundant and len(decided) == redundant
        assert {e.detail["status"] for e in decided} == {"agreed"}
        denied = await s.node.security.audit.query(AuditQuery(outcome="denied", limit=100))
        assert {e.actor for e in denied} >= {"otto"}
        assert any(e.action == "swarm.spawn" and e.actor != "otto" for e in denied)
        assert (await s.node.security.audit.verify()).ok


async def test_multi_agent_task_completion(tmp_path: Path) -> None:
    async with scenario(tmp_path) as s:
        facade = s.node.facade
        operator = s.people.operator.principal
        await facade.swarm.spawn_many(operator, AgentSpec(concurrency=1), 3)
        rng = random.Random(7)
        logs = [inputs.app_log(rng, 400) for _ in range(12)]
        job = Job(
            tool="parse_log",
            inputs={"text": logs},
            map_over="text",
            map_item=True,
            aggregate="merge_levels",
        )
        graph = await facade.swarm.submit_job(operator, job)
        done = await facade.swarm.wait(operator, [t.id for t in graph.tasks], 30)
        submitted, completed = len(graph.tasks), [t for t in done if t.state.final]
        assert submitted == 13 and len(completed) == submitted
        assert all(t.state is TaskState.SUCCEEDED for t in done), [t.error for t in done]

        # The parts ran on several agents, and the fan-in saw every part's result.
        agents_used = {t.agent for t in done if t.tool == "parse_log"}
        assert len(agents_used) >= 2
        expected: dict[str, int] = {}
        for text in logs:
            local = await s.node.runtime.call("parse_log", {"text": text}, operator)
            for level, n in local["levels"].items():
                expected[level] = expected.get(level, 0) + n
        (merged,) = [t for t in done if t.id == graph.outputs[0]]
        assert merged.result == dict(sorted(expected.items()))

        # History shows the whole graph, each task recorded once.
        history = await facade.swarm.history(operator, limit=100, graph_id=graph.id)
        assert sorted(h.id for h in history) == sorted(t.id for t in graph.tasks)
        stats = await facade.swarm.status(operator)
        assert stats.unfinished == 0 and stats.completed >= submitted
        assert stats.duplicates_suppressed == 0
