"""The IntentCompiler over the demo workspace's real tools: plans shown before they run,
refusals with their reasons, a plan from a provider, and a real run on agents."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.errors import PermissionDeniedError
from chimera_engine.intent.plan import IntentError, IntentPlan
from chimera_engine.node import HeartNode
from chimera_engine.security.permissions import Role
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.models import AgentSpec, TaskState

PASSWORD = "correct horse battery"
A_CSV = "Order ID, Amount \n1, 10\n1, 10\n2, 20\n"
ORDERS = {
    "type": "object",
    "required": ["rows", "columns"],
    "properties": {
        "rows": {"type": "integer", "minimum": 1},
        "columns": {"type": "array", "items": {"type": "string"}},
    },
}


def demo_workspace(root: Path) -> Path:
    source = Path(str(resources.files("chimera_engine.demo").joinpath("workspace")))
    ws = root / "ws"
    shutil.copytree(source, ws, ignore=shutil.ignore_patterns("__pycache__"))
    (ws / "inbox").mkdir()
    (ws / "inbox" / "a.csv").write_text(A_CSV)
    (ws / "inbox" / "b.csv").write_text("sku,qty\nx,1\n")
    (ws / "inbox" / "c.csv").write_text("only,a,header\n")
    (ws / "inbox" / "notes.txt").write_text("not a csv")
    (ws / "schemas").mkdir()
    (ws / "schemas" / "orders.json").write_text(json.dumps(ORDERS))
    (ws / "odd").mkdir()
    (ws / "odd" / "big.csv").write_text("a\n" * (1 << 19) + "b\n")
    (ws / "odd" / "latin1.csv").write_bytes("caf\xe9\n".encode("latin-1"))
    (ws / "logs").mkdir()
    (ws / "logs" / "app.log").write_text("2026-01-01 10:00:00 ERROR disk full\n")
    return ws


async def start(tmp_path: Path, **env: str) -> HeartNode:
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=demo_workspace(tmp_path),
        use_default_file=False,
        env={
            "CHIMERA_API__ENABLED": "false",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_METRICS__ENABLED": "false",
            "CHIMERA_SWARM__HEARTBEAT_INTERVAL": "0.2",
            **env,
        },
    )
    node = HeartNode(settings)
    await node.start()
    return node


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, Principal, Principal]]:
    node = await start(tmp_path)
    try:
        admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
        await node.facade.admin.create_user(admin, "olga", PASSWORD, Role.OPERATOR)
        await node.facade.admin.create_user(admin, "otto", PASSWORD, Role.OBSERVER)
        operator = (await node.facade.sessions.login("olga", PASSWORD)).principal
        observer = (await node.facade.sessions.login("otto", PASSWORD)).principal
        yield node, operator, observer
    finally:
        await node.stop()


async def test_plain_language_is_planned_shown_then_run_on_agents(
    engine: tuple[HeartNode, Principal, Principal],
) -> None:
    node, operator, _ = engine
    plan = await node.facade.intent.plan(
        operator, "Clean every CSV in inbox/ and validate it against schema orders"
    )
    shown = plan.to_json()
    assert shown["source"] == "rules" and shown["tools"] == ["clean_csv", "validate_json"]
    steps = {s["id"]: s for s in shown["steps"]}
    assert [s["tool"] for s in shown["steps"]] == ["clean_csv"] * 3 + ["validate_json"] * 4
    first = steps["clean_csv-1"]
    assert first["inputs"]["text"] == {
        "$file": "inbox/a.csv",
        "bytes": len(A_CSV),
    }  # shown, not inlined
    check = steps["validate_json-1"]
    assert check["depends_on"] == ["clean_csv-1"]
    assert check["inputs"]["document"] == {"$ref": "clean_csv-1", "$as": "json"}
    assert check["inputs"]["schema"] == {
        "$file": "schemas/orders.json",
        "bytes": len(json.dumps(ORDERS)),
    }
    assert shown["outputs"] == ["validate_json-summary"]
    assert steps["validate_json-summary"]["depends_on"] == [f"validate_json-{n}" for n in (1, 2, 3)]
    assert "clean_csv over 3 file(s) of inbox/*.csv" in plan.summary
    assert "validate_json-1" in plan.describe()
    # planning ran nothing
    assert await node.facade.swarm.history(operator) == []
    assert not await node.security.audit.query(AuditQuery(action_prefix="intent.run"))

    await node.facade.swarm.spawn_many(operator, AgentSpec(role="executor", concurrency=2), 2)
    graph = await node.facade.intent.run(operator, plan)
    (summary,) = await node.swarm.wait_graph(graph, 20)
    assert summary.state is TaskState.SUCCEEDED
    assert summary.result["valid"] is False
    assert summary.result["errors"] == ["$[2].valid: False is not one of [True]"]  # c.csv: no rows
    done = {
        t.id.split("-", 1)[1]: t
        for t in await node.facade.swarm.history(operator, graph_id=graph.id)
    }
    assert done["clean_csv-1"].result["rows"] == 2 and done["clean_csv-1"].result["dropped"] == 1
    assert done["validate_json-1"].result == {"valid": True, "errors": []}
    assert "minimum" in done["validate_json-3"].result["errors"][0]
    (entry,) = await node.security.audit.query(AuditQuery(action_prefix="intent.run"))
    assert entry.target == graph.id and entry.detail["digest"] == plan.digest


async def test_structured_forms(engine: tuple[HeartNode, Principal, Principal]) -> None:
    node, operator, observer = engine
    plan = await node.facade.intent.plan(
        operator,
        {
            "tool": "parse_log",
            "inputs": {"top": 1},
            "over": {"files": "logs/"},
            "then": [
                {"tool": "validate_json", "key": "levels", "inputs": {"schema": {"type": "object"}}}
            ],
        },
    )
    (parse, validate) = plan.steps
    assert parse.inputs["top"] == 1 and parse.note == "text <- logs/app.log"
    assert validate.inputs["document"] == {"$ref": parse.id, "$key": "levels", "$as": "json"}
    steps = await node.facade.intent.plan(
        operator,
        {
            "steps": [
                {"id": "clean", "tool": "clean_csv", "inputs": {"text": "a,b\n1,2\n"}},
                {
                    "id": "check",
                    "tool": "validate_json",
                    "inputs": {"document": {"$ref": "clean"}, "schema": {"$file": "orders"}},
                },
            ]
        },
    )
    assert steps.outputs == ("check",) and steps.steps[1].depends_on == ("clean",)
    urls = await node.facade.intent.plan(
        operator, "check http://127.0.0.1:9/a and http://127.0.0.1:9/b"
    )
    assert [s.inputs["url"] for s in urls.steps] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    named = await node.facade.intent.plan(operator, "parse logs/app.log")
    assert [s.note for s in named.steps] == ["text <- logs/app.log"]
    with pytest.raises(PermissionDeniedError):
        await node.facade.intent.plan(observer, "parse logs/app.log")
    with pytest.raises(PermissionDeniedError):
        await node.facade.intent.run(observer, named)


REFUSALS: list[tuple[Any, str]] = [
    ({"tool": "frobnicate"}, "unknown tool 'frobnicate'; the workspace has: check_http, clean_csv"),
    ({"tool": "clean_csv", "inputs": {"txt": "a"}}, "clean_csv has no input 'txt'"),
    ({"tool": "clean_csv", "inputs": {"text": 5}}, "input 'text' takes str, not int"),
    ({"tool": "validate_json", "inputs": {"document": "{}"}}, "needs the input(s) schema"),
    ({"tool": "clean_csv", "colour": "red"}, "unknown field(s) colour"),
    ({"tool": "clean_csv", "over": {"files": "../*.csv"}}, "outside the workspace"),
    ({"tool": "clean_csv", "over": {"files": "empty/*.csv"}}, "no files match 'empty/*.csv'"),
    (
        {
            "tool": "validate_json",
            "inputs": {"document": "{}", "schema": {"$file": "/etc/hostname"}},
        },
        "outside the workspace",
    ),
    (
        {"tool": "validate_json", "inputs": {"document": "{}", "schema": {"$file": "inbox/a.csv"}}},
        "inbox/a.csv is not JSON",
    ),
    (
        {
            "tool": "clean_csv",
            "over": {"files": "inbox/*.csv"},
            "then": [{"tool": "check_http", "param": "timeout", "inputs": {"url": "http://x"}}],
        },
        "clean_csv returns dict, but check_http's input 'timeout' takes float",
    ),
    (
        {
            "steps": [
                {"id": "a", "tool": "clean_csv", "inputs": {"text": {"$ref": "b"}}},
                {"id": "b", "tool": "clean_csv", "inputs": {"text": {"$ref": "a"}}},
            ]
        },
        "cycle: a -> b -> a",
    ),
    (
        {"steps": [{"id": "a", "tool": "parse_log", "inputs": {"text": {"$ref": "zz"}}}]},
        "unknown step 'zz'",
    ),
    ({"tool": "clean_csv", "over": {"files": "odd/big.csv"}}, "is 1048578 bytes; at most 1048576"),
    ({"tool": "clean_csv", "over": {"files": "odd/latin1.csv"}}, "latin1.csv is not UTF-8 text"),
    ("make me a sandwich", "no rule reads this request"),
    ("clean every csv in ../", "outside the workspace"),
    ("validate every json in schemas/", "no rule reads"),  # no schema named
]


@pytest.mark.parametrize(("request_", "reason"), REFUSALS, ids=range(len(REFUSALS)))
async def test_refusals_say_why(
    engine: tuple[HeartNode, Principal, Principal], request_: Any, reason: str
) -> None:
    node, operator, _ = engine
    with pytest.raises(IntentError) as refused:
        await node.facade.intent.plan(operator, request_)
    assert reason in str(refused.value)


async def test_symlinks_out_of_the_workspace_are_not_followed(
    engine: tuple[HeartNode, Principal, Principal], tmp_path: Path
) -> None:
    node, operator, _ = engine
    outside = tmp_path / "secret.csv"
    outside.write_text("a,b\n1,2\n")
    trap = node.settings.workspace_path / "trap"
    trap.mkdir()
    (trap / "x.csv").symlink_to(outside)
    with pytest.raises(IntentError, match="no files match"):
        await node.facade.intent.plan(operator, "clean every csv in trap/")


async def test_a_provider_plans_what_the_rules_cannot_read(tmp_path: Path) -> None:
    good = {"tool": "clean_csv", "over": {"param": "text", "files": "inbox/*.csv"}}
    transcript = tmp_path / "plans.json"
    transcript.write_text(
        json.dumps(
            {
                "provider": "openai",
                "model": "gpt-test",
                "exchanges": [
                    {
                        "match": "tidy up the spreadsheets",
                        "response": f"```json\n{json.dumps(good)}\n```",
                    },
                    {"match": "email the boss", "response": '{"tool": "send_email", "inputs": {}}'},
                ],
            }
        )
    )
    node = await start(
        tmp_path, CHIMERA_CODEGEN__PROVIDER="replay", CHIMERA_CODEGEN__TRANSCRIPT=str(transcript)
    )
    try:
        admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
        plan: IntentPlan = await node.facade.intent.plan(
            admin, "Please tidy up the spreadsheets in the inbox"
        )
        assert (plan.source, plan.provider, plan.replay) == ("provider", "replay gpt-test", True)
        assert [s.tool for s in plan.steps] == ["clean_csv"] * 3
        with pytest.raises(IntentError, match="unknown tool 'send_email'"):
            await node.facade.intent.plan(admin, "email the boss the totals")
    finally:
        await node.stop()
