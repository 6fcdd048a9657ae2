"""``chimera swarm``: agents and tasks from the command line.

A command runs its own engine, so the agents it starts live as long as the
command, and it never takes over the tasks of the engine that serves the data
dir (those resume only in that engine): ``submit`` starts the agents it needs
(when none of the role is ready) and waits for the result; ``spawn`` checks that
agents of a role start on this machine and reports how fast. The task history is
shared through the database: ``tasks`` and ``task`` read it directly (no engine,
no scheduler) and see every task, whichever process ran it; ``cancel`` cancels a
recorded task; and a task submitted with ``--no-wait`` runs at the next start of
an engine with agents (``chimera serve`` with ``swarm.initial_agents``). ``plan`` shows the task
graph the IntentCompiler makes of a request; ``plan --run`` runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from chimera_engine.cli.common import Subparsers, fmt_ts, local_principal
from chimera_engine.config import Settings
from chimera_engine.errors import ChimeraError, NotFoundError
from chimera_engine.node import HeartNode
from chimera_engine.store.db import Database
from chimera_engine.swarm.models import (
    AgentInfo,
    AgentSpec,
    ConsensusMethod,
    ConsensusPolicy,
    Task,
    TaskInfo,
    TaskState,
)
from chimera_engine.swarm.runs import stored_info
from chimera_engine.swarm.store import SwarmStore


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    swarm = sub.add_parser("swarm", parents=[common], help="agents and tasks")
    swarm_sub = swarm.add_subparsers(dest="swarm_command", required=True, metavar="ACTION")
    p = swarm_sub.add_parser("status", parents=[common], help="swarm counters as JSON")
    p.set_defaults(handler=swarm_status, needs_node=True)
    p = swarm_sub.add_parser("agents", parents=[common], help="this engine's agents")
    p.set_defaults(handler=swarm_agents, needs_node=True)
    p = swarm_sub.add_parser(
        "spawn", parents=[common], help="start agents of a role, report them, stop them"
    )
    p.add_argument("role")
    p.add_argument("-n", dest="count", type=int, default=1, help="how many (default 1)")
    p.add_argument("--concurrency", type=int, default=4, help="tasks at once per agent")
    p.set_defaults(handler=swarm_spawn, needs_node=True)
    p = swarm_sub.add_parser("stop", parents=[common], help="stop one of this engine's agents")
    p.add_argument("agent_id")
    p.add_argument("--kill", action="store_true", help="at once; its work is reassigned")
    p.set_defaults(handler=swarm_stop, needs_node=True)
    p = swarm_sub.add_parser(
        "submit", parents=[common], help="run a tool as a task on agents and print the result"
    )
    p.add_argument("tool")
    p.add_argument("--args", default="{}", help="the tool's inputs as a JSON object")
    p.add_argument("--redundancy", type=int, default=1, help="replicas on distinct agents")
    p.add_argument(
        "--consensus",
        default="majority",
        choices=[m.value for m in ConsensusMethod],
        help="how replicas are decided",
    )
    p.add_argument("--role", default="executor", help="agent role (default executor)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    p.add_argument("--no-wait", action="store_true", help="record the task and exit; it runs later")
    p.set_defaults(handler=swarm_submit, needs_node=True)
    p = swarm_sub.add_parser(
        "plan", parents=[common], help="show the task graph for a request; --run runs it"
    )
    p.add_argument("request", nargs="?", help='e.g. "clean every CSV in inbox/"')
    p.add_argument("--form", type=Path, help="a structured request (JSON file) instead")
    p.add_argument("--run", action="store_true", help="run the plan on agents and wait")
    p.add_argument("--agents", type=int, default=2, help="executors to start for --run")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for --run")
    p.set_defaults(handler=swarm_plan, needs_node=True)
    p = swarm_sub.add_parser("tasks", parents=[common], help="recorded tasks, newest first")
    p.add_argument("--state", choices=[s.value for s in TaskState])
    p.add_argument("--graph", help="only the tasks of this graph")
    p.add_argument("-n", dest="limit", type=int, default=50, help="how many (default 50)")
    p.set_defaults(handler=swarm_tasks, needs_node=False)
    p = swarm_sub.add_parser("task", parents=[common], help="a task and its attempts, as JSON")
    p.add_argument("task_id")
    p.set_defaults(handler=swarm_task, needs_node=False)
    p = swarm_sub.add_parser("cancel", parents=[common], help="cancel an unfinished task")
    p.add_argument("task_id")
    p.set_defaults(handler=swarm_cancel, needs_node=True)


def agent_row(agent: AgentInfo) -> str:
    ready = (
        f"{agent.ready_at - agent.started_at:.2f}s"
        if agent.ready_at is not None and agent.started_at
        else "-"
    )
    return (
        f"{agent.id:<18} {agent.role:<10} {agent.state.value:<9} {agent.pid or '-':>7} "
        f"{agent.in_flight:>5} {agent.reputation:>5.2f} {agent.rss_bytes / 2**20:>6.1f} {ready:>7}"
    )


AGENT_HEADER = (
    f"{'AGENT':<18} {'ROLE':<10} {'STATE':<9} {'PID':>7} {'LOAD':>5} {'REP':>5} "
    f"{'RSS MB':>6} {'READY':>7}"
)


def task_json(info: TaskInfo) -> dict[str, Any]:
    data = asdict(info)
    data["state"] = info.state.value
    return data


async def swarm_status(node: HeartNode, args: argparse.Namespace) -> int:
    stats = await node.facade.swarm.status(local_principal())
    print(json.dumps(asdict(stats), indent=2, sort_keys=True))
    note = stats.scheduler_note()
    if note:
        print(f"chimera: {note}", file=sys.stderr)
    return 0


async def swarm_agents(node: HeartNode, args: argparse.Namespace) -> int:
    agents = await node.facade.swarm.agents(local_principal())
    if not agents:
        print("no agents in this engine (swarm.initial_agents starts some at every start)")
        return 0
    print(AGENT_HEADER)
    for agent in agents:
        print(agent_row(agent))
    return 0


async def swarm_spawn(node: HeartNode, args: argparse.Namespace) -> int:
    spec = AgentSpec(role=args.role, concurrency=args.concurrency)
    started = time.monotonic()
    agents = await node.facade.swarm.spawn_many(local_principal(), spec, args.count)
    elapsed = time.monotonic() - started
    print(AGENT_HEADER)
    for agent in agents:
        print(agent_row(agent))
    print(
        f"{len(agents)} {args.role} agent(s) ready in {elapsed:.2f}s; "
        "they stop as this command ends"
    )
    return 0


async def swarm_stop(node: HeartNode, args: argparse.Namespace) -> int:
    try:
        info = await node.facade.swarm.stop_agent(local_principal(), args.agent_id, kill=args.kill)
    except NotFoundError as exc:
        raise ChimeraError(
            f"{exc}: a command sees only its own agents (swarm.initial_agents); stop those "
            "of a running engine through its API (POST /api/swarm/agents/ID/stop)"
        ) from None
    print(f"agent {info.id} {info.state.value}")
    return 0


def _inputs(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChimeraError(f"--args is not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ChimeraError("--args must be a JSON object")
    return value


async def ensure_agents(node: HeartNode, role: str, wanted: int) -> list[AgentInfo]:
    """Start agents of ``role`` until ``wanted`` are ready (as many as fit under the
    maximum; at least one). Returns the ones started."""
    principal = local_principal()
    agents = await node.facade.swarm.agents(principal)
    ready = sum(1 for a in agents if a.role == role and a.state.value in ("ready", "starting"))
    live = sum(1 for a in agents if not a.state.final)
    room = node.settings.swarm.max_agents - live
    missing = min(wanted - ready, room)
    if ready == 0 and missing < 1:
        raise ChimeraError(
            f"no {role} agent and no room for one (swarm.max_agents is "
            f"{node.settings.swarm.max_agents})"
        )
    if missing < 1:
        return []
    return await node.facade.swarm.spawn_many(principal, AgentSpec(role=role), missing)


async def swarm_submit(node: HeartNode, args: argparse.Namespace) -> int:
    principal = local_principal()
    task = Task(
        tool=args.tool,
        inputs=_inputs(args.args),
        role=args.role,
        redundancy=args.redundancy,
        consensus=ConsensusPolicy(method=ConsensusMethod(args.consensus)),
    )
    if args.no_wait:
        (info,) = await node.facade.swarm.submit(principal, [task])
        print(
            f"task {info.id} recorded ({info.state.value}); it runs at the next start with agents"
        )
        return 0
    started = await ensure_agents(node, args.role, args.redundancy)
    if started:
        print(f"started {len(started)} {args.role} agent(s) for this task", file=sys.stderr)
    (info,) = await node.facade.swarm.submit(principal, [task])
    (info,) = await node.facade.swarm.wait(principal, [info.id], args.timeout)
    print(json.dumps(task_json(info), indent=2, default=str))
    if not info.state.final:
        print(f"chimera: task {info.id} not finished after {args.timeout:g}s", file=sys.stderr)
        return 1
    return 0 if info.state is TaskState.SUCCEEDED else 1


@contextlib.asynccontextmanager
async def history_store(settings: Settings) -> AsyncIterator[SwarmStore]:
    """The task history, read straight from the database: no engine, no scheduler, no
    agents, so reading never resumes or re-sends the serving engine's tasks."""
    if not settings.database_path.exists():
        raise ChimeraError(f"no database at {settings.database_path}: nothing has run here yet")
    db = Database(settings.database_path)
    await db.open()
    try:
        yield SwarmStore(db)
    finally:
        await db.close()


async def swarm_tasks(settings: Settings, args: argparse.Namespace) -> int:
    state = TaskState(args.state) if args.state else None
    async with history_store(settings) as store:
        stored = await store.history(limit=args.limit, state=state, graph_id=args.graph)
    tasks = [stored_info(s) for s in stored]
    if not tasks:
        print("no tasks")
        return 0
    print(f"{'TASK':<34} {'TOOL':<16} {'STATE':<11} {'TRIES':>5} {'CREATED':<19} ERROR")
    for t in tasks:
        print(
            f"{t.id:<34} {(t.tool or '<prompt>'):<16} {t.state.value:<11} {t.attempts:>5} "
            f"{fmt_ts(t.created_at):<19} {t.error_code}"
        )
    return 0


async def swarm_task(settings: Settings, args: argparse.Namespace) -> int:
    async with history_store(settings) as store:
        found = await store.load([args.task_id])
        if args.task_id not in found:
            raise NotFoundError(f"no task {args.task_id!r}")
        info = stored_info(found[args.task_id])
        attempts = await store.attempts_of(args.task_id)
    print(json.dumps({"task": task_json(info), "attempts": attempts}, indent=2, default=str))
    return 0


async def swarm_cancel(node: HeartNode, args: argparse.Namespace) -> int:
    info = await node.facade.swarm.cancel(local_principal(), args.task_id)
    print(f"task {info.id} {info.state.value}")
    return 0 if info.state is TaskState.CANCELLED else 1


def _request(args: argparse.Namespace) -> str | dict[str, Any]:
    if (args.request is None) == (args.form is None):
        raise ChimeraError("give a request in words or --form FILE (one of them)")
    if args.form is None:
        return str(args.request)
    try:
        form = json.loads(args.form.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ChimeraError(f"cannot read {args.form}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ChimeraError(f"{args.form} is not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(form, dict):
        raise ChimeraError(f"{args.form} must hold a JSON object")
    return form


async def swarm_plan(node: HeartNode, args: argparse.Namespace) -> int:
    principal = local_principal()
    plan = await node.facade.intent.plan(principal, _request(args))
    if args.json:
        print(json.dumps(plan.to_json(), indent=2, default=str))
    else:
        print(plan.describe())
    if not args.run:
        return 0
    await ensure_agents(node, "executor", max(1, args.agents))
    graph = await node.facade.intent.run(principal, plan)
    print(f"running graph {graph.id} ({len(graph.tasks)} tasks)", file=sys.stderr)
    done = await node.facade.swarm.wait(principal, [t.id for t in graph.tasks], args.timeout)
    outputs = [t for t in done if t.id in graph.outputs]
    print(json.dumps([task_json(t) for t in outputs], indent=2, default=str))
    unfinished = sum(1 for t in done if not t.state.final)
    if unfinished:
        print(
            f"chimera: {unfinished} task(s) not finished after {args.timeout:g}s", file=sys.stderr
        )
    return 0 if all(t.state is TaskState.SUCCEEDED for t in outputs) else 1
