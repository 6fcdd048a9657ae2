"""The swarm over HTTP, on a real server with real agent processes: agents, tasks,
graphs, consensus, and the bad input each route refuses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from chimera_engine.security.permissions import Role
from tests.conftest import ADMIN_PASSWORD
from tests.swarm.conftest import write_tools

SWARM_ENV = {
    "CHIMERA_API__PORT": "0",
    "CHIMERA_TOOLS__WATCH": "false",
    "CHIMERA_METRICS__ENABLED": "false",
    "CHIMERA_SWARM__HEARTBEAT_INTERVAL": "0.2",
    "CHIMERA_SWARM__HEARTBEAT_TIMEOUT": "1.5",
    "CHIMERA_SWARM__STOP_GRACE": "2",
    "CHIMERA_SWARM__MAX_AGENTS": "3",
    "CHIMERA_RATELIMIT__WRITE_PER_MINUTE": "100000",
    "CHIMERA_RATELIMIT__READ_PER_MINUTE": "100000",
}


class Api:
    def __init__(self, node: HeartNode, client: httpx.AsyncClient) -> None:
        self.node = node
        self.client = client
        self.headers: dict[Role, dict[str, str]] = {}

    async def call(
        self, method: str, path: str, role: Role = Role.OPERATOR, **kwargs: Any
    ) -> httpx.Response:
        return await self.client.request(method, path, headers=self.headers[role], **kwargs)


async def serve(tmp_path: Path, **env: str) -> AsyncIterator[Api]:
    workspace = tmp_path / "ws"
    write_tools(workspace)
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        env={**SWARM_ENV, **env},
        use_default_file=False,
    )
    async with HeartNode(settings) as node:
        assert node.api is not None
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        async with httpx.AsyncClient(base_url=node.api.url, timeout=30) as client:
            api = Api(node, client)
            api.headers[Role.ADMIN] = {"Authorization": f"Bearer {admin.tokens.access_token}"}
            for role in (Role.OPERATOR, Role.OBSERVER):
                await node.facade.admin.create_user(
                    admin.principal, role.value, ADMIN_PASSWORD, role
                )
                session = await node.facade.sessions.login(role.value, ADMIN_PASSWORD)
                api.headers[role] = {"Authorization": f"Bearer {session.tokens.access_token}"}
            key, _ = await node.facade.admin.create_api_key(
                admin.principal, name="client", role=Role.API_CLIENT
            )
            api.headers[Role.API_CLIENT] = {"X-API-Key": key}
            yield api


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for a in serve(tmp_path):
        yield a


def error_of(r: httpx.Response, status: int) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return dict(body["error"])


async def test_agents_tasks_and_graphs(api: Api) -> None:
    r = await api.call(
        "POST", "/api/swarm/spawn", json={"role": "executor", "count": 2, "concurrency": 2}
    )
    assert r.status_code == 201, r.text
    agents = r.json()["agents"]
    assert [a["state"] for a in agents] == ["ready", "ready"]
    listed = (await api.call("GET", "/api/swarm/agents", Role.OBSERVER)).json()["agents"]
    assert {a["id"] for a in listed} == {a["id"] for a in agents}

    one = await api.call(
        "POST", "/api/swarm/task", json={"tool": "add", "inputs": {"a": 2, "b": 3}, "wait": 10}
    )
    assert one.status_code == 201, one.text
    (task,) = one.json()["tasks"]
    assert (task["state"], task["result"]) == ("succeeded", 5)

    many = await api.call(
        "POST",
        "/api/swarm/task",
        Role.API_CLIENT,
        json={"tasks": [{"tool": "twice", "inputs": {"x": n}} for n in range(4)], "wait": 10},
    )
    assert [t["result"] for t in many.json()["tasks"]] == [0, 2, 4, 6]

    plan = [
        {"id": "sum", "tool": "add", "inputs": {"a": 1, "b": 2}},
        {"id": "double", "tool": "twice", "inputs": {"x": {"$ref": "sum"}}},
    ]
    for _ in range(2):  # step names are local to each plan: resubmitting makes new tasks
        g = await api.call("POST", "/api/swarm/task", json={"plan": plan, "wait": 10})
        assert g.status_code == 201, g.text
        graph = g.json()
        assert set(graph["names"]) == {"sum", "double"}
        by_id = {t["id"]: t for t in graph["tasks"]}
        assert by_id[graph["names"]["double"]]["result"] == 6
    in_graph = await api.call(
        "GET", "/api/tasks", Role.OBSERVER, params={"graph": graph["graph_id"]}
    )
    assert {t["id"] for t in in_graph.json()["tasks"]} == set(graph["names"].values())

    voted = await api.call(
        "POST",
        "/api/swarm/task",
        json={"tool": "add", "inputs": {"a": 4, "b": 4}, "redundancy": 2, "wait": 10},
    )
    (decided,) = voted.json()["tasks"]
    assert decided["result"] == 8 and decided["consensus"]["status"] == "agreed"

    shown = (await api.call("GET", f"/api/tasks/{decided['id']}", Role.OBSERVER)).json()
    assert shown["task"]["id"] == decided["id"]
    assert [a["outcome"] for a in shown["attempts"]] == ["ok", "ok"]
    assert len({a["agent"] for a in shown["attempts"]}) == 2  # replicas on distinct agents

    waiting = await api.call(
        "POST",
        "/api/swarm/task",
        json={"tool": "add", "role": "reviewer", "inputs": {"a": 1, "b": 1}},
    )
    pending = waiting.json()["tasks"][0]
    assert pending["state"] == "pending"  # no reviewer agent
    # another holder of swarm.task may not cancel someone else's task
    foreign = await api.call("POST", f"/api/tasks/{pending['id']}/cancel", Role.API_CLIENT)
    assert error_of(foreign, 403)["message"].startswith("only the task's owner")
    cancelled = await api.call("POST", f"/api/tasks/{pending['id']}/cancel")
    assert cancelled.json()["task"]["state"] == "cancelled"
    by_state = await api.call("GET", "/api/tasks", params={"state": "cancelled", "limit": 5})
    assert [t["id"] for t in by_state.json()["tasks"]] == [pending["id"]]

    stats = (await api.call("GET", "/api/swarm/stats", Role.OBSERVER)).json()
    assert stats["agents_ready"] == 2 and stats["completed"] >= 10

    stop = await api.call("POST", f"/api/swarm/agents/{agents[0]['id']}/stop?kill=true")
    assert stop.json()["agent"]["state"] == "killed"
    stop = await api.call("POST", f"/api/swarm/agents/{agents[1]['id']}/stop")
    assert stop.json()["agent"]["state"] == "stopped"


async def test_consensus_route(api: Api) -> None:
    votes = [{"agent": "a", "value": 4}, {"agent": "b", "value": 4}, {"agent": "c", "value": 5}]
    r = await api.call("POST", "/api/swarm/consensus", json={"votes": votes, "subject": "manual"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["value"], r.json()["dissenters"]) == ("agreed", 4, ["c"])
    tie = await api.call("POST", "/api/swarm/consensus", json={"votes": votes[1:]})
    assert tie.json()["status"] == "tie"
    unanimous = await api.call(
        "POST", "/api/swarm/consensus", json={"votes": votes, "policy": {"method": "unanimous"}}
    )
    assert unanimous.json()["status"] == "no_consensus"
    close = await api.call(
        "POST",
        "/api/swarm/consensus",
        json={
            "votes": [{"agent": "a", "value": 1.0}, {"agent": "b", "value": 1.004}],
            "policy": {"method": "quorum", "threshold": 1, "tolerance": 0.01},
        },
    )
    assert close.json()["status"] == "agreed"
    error_of(
        await api.call("POST", "/api/swarm/consensus", Role.OBSERVER, json={"votes": votes}), 403
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        (
            "POST",
            "/api/swarm/task",
            {"tool": "add", "colour": "red"},
            400,
            "unknown field 'colour'",
        ),
        ("POST", "/api/swarm/task", {"tool": "add", "inputs": "a=1"}, 400, "expected object"),
        ("POST", "/api/swarm/task", {}, 400, "give one task"),
        (
            "POST",
            "/api/swarm/task",
            {"tool": "add", "tasks": [{"tool": "add"}]},
            400,
            "give one task",
        ),
        ("POST", "/api/swarm/task", {"tasks": []}, 400, "at least one"),
        ("POST", "/api/swarm/task", {"tool": "add", "prompt": "x"}, 400, "exactly one"),
        ("POST", "/api/swarm/task", {"tool": "nope"}, 404, "no active tool"),
        ("POST", "/api/swarm/task", {"tool": "add", "inputs": {"a": 1}}, 400, "do not match"),
        (
            "POST",
            "/api/swarm/task",
            {"tool": "add", "inputs": {"a": "1", "b": 2}},
            400,
            "must be int",
        ),
        ("POST", "/api/swarm/task", {"tool": "add", "redundancy": 99}, 400, "at most 16"),
        ("POST", "/api/swarm/task", {"tool": "add", "wait": 600}, 400, "at most 60"),
        (
            "POST",
            "/api/swarm/task",
            {
                "plan": [
                    {"id": "a", "tool": "echo", "depends_on": ["b"]},
                    {"id": "b", "tool": "echo", "depends_on": ["a"]},
                ]
            },
            400,
            "cycle",
        ),
        (
            "POST",
            "/api/swarm/task",
            {"plan": [{"id": "a", "tool": "echo"}, {"id": "a", "tool": "echo"}]},
            400,
            "same id",
        ),
        ("POST", "/api/swarm/spawn", {"role": "Exec utor"}, 400, "not a valid role"),
        ("POST", "/api/swarm/spawn", {"role": "executor", "count": "2"}, 400, "expected integer"),
        ("POST", "/api/swarm/spawn", {"role": "executor", "count": 99}, 400, "at most 16"),
        ("POST", "/api/swarm/consensus", {"votes": []}, 400, "at least one vote"),
        (
            "POST",
            "/api/swarm/consensus",
            {"votes": [{"agent": "a"}], "policy": {"method": "vibes"}},
            400,
            "must be one of",
        ),
        ("POST", "/api/swarm/agents/nobody/stop?kill=yes", None, 400, "true or false"),
        ("POST", "/api/swarm/agents/nobody/stop", None, 404, "nobody"),
        ("GET", "/api/tasks?state=sleeping", None, 400, "state must be one of"),
        ("GET", "/api/tasks?limit=0", None, 400, "limit must be 1-1000"),
        ("GET", "/api/tasks?limit=ten", None, 400, "must be an integer"),
        ("GET", "/api/tasks/nothing-here", None, 404, "nothing-here"),
        ("POST", "/api/tasks/nothing-here/cancel", None, 404, "nothing-here"),
    ],
)
async def test_bad_input_is_refused(
    api: Api, method: str, path: str, body: Any, status: int, words: str
) -> None:
    r = await api.call(method, path, json=body)
    assert words in error_of(r, status)["message"]


async def test_refusals_by_role_capacity_and_state(tmp_path: Path) -> None:
    async for api in serve(tmp_path, CHIMERA_SWARM__MAX_AGENTS="1"):
        error_of(
            await api.call("POST", "/api/swarm/task", Role.OBSERVER, json={"tool": "add"}), 403
        )
        error_of(
            await api.call("POST", "/api/swarm/spawn", Role.API_CLIENT, json={"role": "executor"}),
            403,
        )
        r = await api.call("POST", "/api/swarm/spawn", json={"role": "executor", "count": 2})
        assert error_of(r, 409)["code"] == "swarm_capacity"
        assert (await api.call("GET", "/api/swarm/agents")).json()["agents"] == []  # none of them
    async for api in serve(tmp_path / "off", CHIMERA_SWARM__ENABLED="false"):
        r = await api.call("GET", "/api/swarm/agents", Role.OBSERVER)
        assert error_of(r, 503)["code"] == "swarm_not_running"


# -- the WebSocket ------------------------------------------------------------------------------


async def recv(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), 10)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return dict(json.loads(msg.data))


async def connect(
    session: aiohttp.ClientSession, api: Api, role: Role
) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(str(api.client.base_url).replace("http", "ws") + "/ws")
    token = api.headers[role]["Authorization"].removeprefix("Bearer ")
    await ws.send_json({"type": "authenticate", "token": token})
    assert (await recv(ws))["type"] == "authenticated"
    return ws


async def test_websocket_spawns_agents_and_streams_swarm_events(api: Api) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await connect(session, api, Role.OPERATOR)
        await ws.send_json({"type": "subscribe", "topics": ["agents", "tasks"], "id": 1})
        assert (await recv(ws))["topics"] == ["agents", "tasks"]
        await ws.send_json({"type": "spawn_agent", "spec": {"role": "executor"}, "id": 2})
        changes: list[str] = []
        while True:
            message = await recv(ws)
            if message["type"] == "spawn_result":
                break
            assert message["event"] == "AgentChanged" and message["topic"] == "agents"
            changes.append(message["data"]["change"])
        assert message["id"] == 2 and message["agents"][0]["state"] == "ready"
        assert "ready" in changes or (await recv(ws))["data"]["change"] == "ready"

        r = await api.call(
            "POST", "/api/swarm/task", json={"tool": "add", "inputs": {"a": 1, "b": 1}}
        )
        task_id = r.json()["tasks"][0]["id"]
        states: list[str] = []
        while "succeeded" not in states:
            message = await recv(ws)
            if message["event"] == "TaskChanged" and message["data"]["task_id"] == task_id:
                states.append(message["data"]["state"])
        assert states[0] in ("pending", "assigned", "running")

        await ws.send_json({"type": "spawn_agent", "spec": {"role": "executor", "gpu": True}})
        refused = await recv(ws)
        assert (refused["type"], refused["code"]) == ("error", "invalid")
        assert "unknown field 'gpu'" in refused["message"]
        await ws.close()

        observer = await connect(session, api, Role.OBSERVER)
        await observer.send_json({"type": "spawn_agent", "spec": {"role": "executor"}})
        assert (await recv(observer))["code"] == "forbidden"
        await observer.send_json({"type": "subscribe", "topics": ["agents"]})
        assert (await recv(observer))["type"] == "subscribed"
        await observer.close()


# -- the IntentCompiler ------------------------------------------------------------------------


async def test_intent_plan_then_run(api: Api) -> None:
    form = {"tool": "twice", "over": {"items": [1, 2, 3]}, "summary": {"tool": "total"}}
    r = await api.call("POST", "/api/intent/plan", Role.API_CLIENT, json={"form": form})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert [s["id"] for s in plan["steps"]] == ["twice-1", "twice-2", "twice-3", "total-summary"]
    assert plan["steps"][3]["inputs"] == {"results": {"$refs": ["twice-1", "twice-2", "twice-3"]}}
    assert (await api.call("GET", "/api/tasks")).json()["tasks"] == []  # nothing ran

    await api.call("POST", "/api/swarm/spawn", json={"role": "executor"})
    stale = await api.call("POST", "/api/intent/run", json={"form": form, "digest": "0" * 16})
    assert error_of(stale, 409)["code"] == "conflict"
    run = await api.call(
        "POST", "/api/intent/run", json={"form": form, "digest": plan["digest"], "wait": 10}
    )
    assert run.status_code == 201, run.text
    done = run.json()
    (output,) = [t for t in done["tasks"] if t["id"] in done["outputs"]]
    assert (output["state"], output["result"]) == ("succeeded", 12)

    refused = await api.call("POST", "/api/intent/plan", json={"text": "make me a sandwich"})
    assert error_of(refused, 400)["code"] == "intent_refused"
    unknown = await api.call("POST", "/api/intent/plan", json={"form": {"tool": "warp"}})
    assert "unknown tool 'warp'" in error_of(unknown, 400)["message"]
    both = await api.call("POST", "/api/intent/plan", json={"text": "x", "form": {}})
    assert "one of them" in error_of(both, 400)["message"]
    error_of(await api.call("POST", "/api/intent/plan", Role.OBSERVER, json={"form": form}), 403)
