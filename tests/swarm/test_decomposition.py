"""TaskDecomposer and task graphs: fan-out, fan-in, pipelines, prompts, planners, cycles,
and a decomposed job run end to end by real agents with redundancy and consensus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.node import HeartNode
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.decomposer import Job, TaskDecomposer, ToolDescription
from chimera_engine.swarm.errors import DecompositionError
from chimera_engine.swarm.graph import TaskGraph
from chimera_engine.swarm.models import (
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
    TaskState,
)
from tests.swarm.conftest import OPERATOR

CATALOG = [
    ToolDescription(name="count", params=("rows",)),
    ToolDescription(name="total", params=("results",)),
    ToolDescription(name="twice", params=("x",)),
    ToolDescription(name="add", params=("a", "b")),
]


def test_task_decomposition() -> None:
    d = TaskDecomposer(lambda: CATALOG)

    # fan-out over an input in chunks, fan-in by an aggregate tool
    g = d.decompose_rules(
        Job(
            tool="count",
            inputs={"rows": list(range(10))},
            map_over="rows",
            chunk_size=4,
            aggregate="total",
            redundancy=3,
        )
    )
    order = g.order()
    chunks, agg = order[:-1], order[-1]
    assert [t.inputs["rows"] for t in chunks] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(t.redundancy == 3 and not t.depends_on for t in chunks)
    assert agg.tool == "total" and agg.redundancy == 1
    assert agg.inputs == {"results": {"$refs": [t.id for t in chunks]}}
    assert set(agg.depends_on) == {t.id for t in chunks} and g.outputs == [agg.id]
    assert all(t.graph_id == g.id for t in order)

    # fan-out item by item, no aggregate: every chunk is an output
    g = d.decompose_rules(Job(tool="twice", inputs={"x": [1, 2, 3]}, map_over="x", map_item=True))
    assert [t.inputs["x"] for t in g.order()] == [1, 2, 3] and len(g.outputs) == 3

    # a pipeline: each stage receives the previous result(s)
    g = d.decompose_rules(
        Job(
            tool="count",
            inputs={"rows": [1, 2, 3, 4]},
            map_over="rows",
            chunk_size=2,
            then=[Job(tool="total", input_from="results"), Job(tool="twice", input_from="x")],
        )
    )
    order = g.order()
    assert [t.tool for t in order] == ["count", "count", "total", "twice"]
    assert order[2].inputs["results"] == {"$refs": [order[0].id, order[1].id]}
    assert order[3].inputs["x"] == {"$ref": order[2].id} and g.outputs == [order[3].id]

    # prompts: the tools it names, in the order it names them; none named -> a prompt task
    g = d.decompose_rules(
        Job(prompt="count the rows, then total them, then twice it", inputs={"rows": [1]})
    )
    assert [t.tool for t in g.order()] == ["count", "total", "twice"]
    g = d.decompose_rules(Job(prompt="what is the meaning of life?"))
    (only,) = g.order()
    assert only.prompt and only.tool is None and only.role == "analyzer"

    # bad decompositions are refused as a whole
    with pytest.raises(DecompositionError, match="not a list"):
        d.decompose_rules(Job(tool="count", inputs={"rows": 3}, map_over="rows"))
    with pytest.raises(DecompositionError, match="input_from"):
        d.decompose_rules(Job(tool="count", inputs={"rows": []}, then=[Job(tool="total")]))
    with pytest.raises(DecompositionError, match="exceeds the limit"):
        TaskDecomposer(max_tasks=5).decompose_rules(
            Job(tool="count", inputs={"rows": list(range(10))}, map_over="rows")
        )
    with pytest.raises(DecompositionError, match="tool or a prompt"):
        d.decompose_rules(Job())


def test_a_decomposition_that_would_create_a_cycle_is_refused() -> None:
    plan = [
        {"id": "a", "tool": "twice", "inputs": {"x": {"$ref": "c"}}},
        {"id": "b", "tool": "twice", "inputs": {"x": {"$ref": "a"}}},
        {"id": "c", "tool": "twice", "inputs": {"x": {"$ref": "b"}}},
    ]
    with pytest.raises(DecompositionError, match="cycle: a -> c -> b -> a"):
        TaskGraph.from_plan(plan)
    with pytest.raises(DecompositionError, match="depends on itself"):
        TaskGraph.from_plan([{"id": "a", "tool": "twice", "depends_on": ["a"]}])
    with pytest.raises(DecompositionError, match="unknown task 'zzz'"):
        TaskGraph.from_plan([{"id": "a", "tool": "twice", "depends_on": ["zzz"]}])
    with pytest.raises(DecompositionError, match="unknown fields: shell"):
        TaskGraph.from_plan([{"id": "a", "tool": "twice", "shell": "rm -rf /"}])
    with pytest.raises(DecompositionError, match="two tasks"):
        TaskGraph.from_plan([{"id": "a", "tool": "twice"}, {"id": "a", "tool": "add"}])
    with pytest.raises(DecompositionError, match="non-empty list"):
        TaskGraph.from_plan([])


async def test_llm_planner_hook() -> None:
    seen: dict[str, Any] = {}

    async def planner(prompt: str, tools: Sequence[ToolDescription]) -> Sequence[Mapping[str, Any]]:
        seen["prompt"], seen["tools"] = prompt, [t.name for t in tools]
        return [
            {"id": "p1", "tool": "add", "inputs": {"a": 1, "b": 2}},
            {"id": "p2", "tool": "twice", "inputs": {"x": {"$ref": "p1"}}},
        ]

    d = TaskDecomposer(lambda: CATALOG, planner)
    g = await d.decompose(Job(prompt="add one and two, then double it"))
    assert [t.id for t in g.order()] == ["p1", "p2"] and seen["tools"] == [t.name for t in CATALOG]

    async def cyclic(prompt: str, tools: Sequence[ToolDescription]) -> Sequence[Mapping[str, Any]]:
        return [
            {"id": "x", "tool": "twice", "depends_on": ["y"]},
            {"id": "y", "tool": "twice", "depends_on": ["x"]},
        ]

    with pytest.raises(DecompositionError, match="cycle"):
        await TaskDecomposer(lambda: CATALOG, cyclic).decompose(Job(prompt="loop"))
    # a tool job never goes to the planner
    g = await TaskDecomposer(lambda: CATALOG, cyclic).decompose(Job(tool="twice", inputs={"x": 1}))
    assert len(g) == 1


async def test_multi_agent_task_completion(swarm: SwarmCoordinator, node: HeartNode) -> None:
    """Scenario 2: decompose -> agents in parallel -> consensus on redundant results ->
    every step audited."""
    for _ in range(3):
        await swarm.spawn_agent(AgentSpec(role="executor", concurrency=2), OPERATOR)
    job = Job(
        tool="count",
        inputs={"rows": list(range(25))},
        map_over="rows",
        chunk_size=5,
        aggregate="total",
        redundancy=3,
        consensus=ConsensusPolicy(method=ConsensusMethod.MAJORITY),
    )
    graph = await swarm.submit_job(job, OPERATOR)
    (output,) = await swarm.wait_graph(graph, timeout=20)
    assert output.state is TaskState.SUCCEEDED and output.result == 25
    chunks = [await swarm.task(t.id) for t in graph.tasks[:-1]]
    assert all(c.result == 5 and c.consensus and c.consensus["status"] == "agreed" for c in chunks)
    assert all(len(c.consensus["winners"]) == 3 for c in chunks)  # type: ignore[index]
    # the replicas ran on three distinct agents
    attempts = await swarm.store.attempts_of(chunks[0].id)
    assert len({a["agent"] for a in attempts}) == 3
    entries = await node.security.audit.query(AuditQuery(action_prefix="swarm."))
    actions = [e.action for e in entries]
    assert actions.count("swarm.vote") == 15 and actions.count("swarm.consensus") == 5
    assert "swarm.task.submit" in actions
    history = await swarm.history(graph_id=graph.id)
    assert len(history) == 6 and all(h.state is TaskState.SUCCEEDED for h in history)


async def test_dependency_failure_cancels_dependants(swarm: SwarmCoordinator) -> None:
    await swarm.spawn_agent(AgentSpec(concurrency=2), OPERATOR)
    g = TaskGraph()
    bad = g.add(Task(id="bad", tool="boom"))
    child = g.add(Task(id="child", tool="twice", inputs={"x": {"$ref": bad.id}}))
    g.add(Task(id="grandchild", tool="echo", depends_on=(child.id,)))
    info = await swarm.submit_graph(g, OPERATOR)
    await swarm.wait_graph(info, timeout=10)
    assert (await swarm.task("bad")).state is TaskState.FAILED
    for tid in ("child", "grandchild"):
        t = await swarm.task(tid)
        assert t.state is TaskState.CANCELLED and t.error_code == "dependency_failed"
    # a later task may depend on an earlier, finished one
    ok = await swarm.run(Task(tool="add", inputs={"a": 1, "b": 2}, id="one"), OPERATOR, 5)
    later = await swarm.run(Task(tool="twice", inputs={"x": {"$ref": ok.id}}), OPERATOR, 5)
    assert later.result == 6
