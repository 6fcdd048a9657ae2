"""``chimera swarm``, run as real subprocesses with real agent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.swarm.conftest import write_tools

ENV = {
    "CHIMERA_SWARM__HEARTBEAT_INTERVAL": "0.2",
    "CHIMERA_SWARM__HEARTBEAT_TIMEOUT": "1.5",
    "CHIMERA_SWARM__MAX_AGENTS": "3",
    "CHIMERA_METRICS__ENABLED": "false",
}


@pytest.fixture
def common(tmp_path: Path) -> list[str]:
    write_tools(tmp_path / "ws")
    return ["--data-dir", str(tmp_path / "data"), "--workspace", str(tmp_path / "ws")]


def chimera(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chimera_engine", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV},
    )


def test_submit_starts_agents_and_prints_the_result(common: list[str]) -> None:
    done = chimera("swarm", "submit", "add", "--args", '{"a": 2, "b": 3}', *common)
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert (task["state"], task["result"]) == ("succeeded", 5)
    assert "started 1 executor agent(s)" in done.stderr

    voted = chimera(
        "swarm", "submit", "twice", "--args", '{"x": 4}', "--redundancy", "2",
        "--consensus", "unanimous", *common,
    )  # fmt: skip
    decided = json.loads(voted.stdout)
    assert decided["result"] == 8 and decided["consensus"]["status"] == "agreed"
    assert decided["consensus"]["votes"] == 2

    failed = chimera("swarm", "submit", "boom", "--args", '{"message": "no"}', *common)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["error_code"] == "tool_error"

    shown = chimera("swarm", "task", decided["id"], *common)
    detail = json.loads(shown.stdout)
    assert detail["task"]["id"] == decided["id"]
    assert len({a["agent"] for a in detail["attempts"]}) == 2

    listed = chimera("swarm", "tasks", "--state", "succeeded", *common)
    assert listed.returncode == 0
    assert task["id"] in listed.stdout and decided["id"] in listed.stdout
    assert "boom" not in listed.stdout

    tail = chimera("audit", "tail", "--json", "--action", "swarm.task.submit", *common)
    entries = [json.loads(line) for line in tail.stdout.splitlines()]
    assert len(entries) == 3 and all(e["actor"].startswith("local:") for e in entries)


def test_recorded_task_can_be_cancelled_later(common: list[str]) -> None:
    recorded = chimera("swarm", "submit", "add", "--args", '{"a": 1, "b": 1}', "--no-wait", *common)
    assert recorded.returncode == 0, recorded.stderr
    task_id = recorded.stdout.split()[1]
    pending = chimera("swarm", "tasks", "--state", "pending", *common)
    assert task_id in pending.stdout
    cancelled = chimera("swarm", "cancel", task_id, *common)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"task {task_id} cancelled"
    shown = json.loads(chimera("swarm", "task", task_id, *common).stdout)
    assert shown["task"]["state"] == "cancelled"


def test_spawn_agents_stop_status_and_bad_input(common: list[str]) -> None:
    spawned = chimera("swarm", "spawn", "analyzer", "-n", "2", *common)
    assert spawned.returncode == 0, spawned.stderr
    rows = [line for line in spawned.stdout.splitlines() if line.startswith("analyzer-")]
    assert len(rows) == 2 and all(" ready " in row for row in rows)
    assert "2 analyzer agent(s) ready" in spawned.stdout

    too_many = chimera("swarm", "spawn", "analyzer", "-n", "4", *common)
    assert too_many.returncode == 2 and "swarm.max_agents=3" in too_many.stderr

    with_initial = chimera(
        "swarm", "agents", *common, "--config", str(_config(common, "executor:1"))
    )
    assert with_initial.returncode == 0 and "executor-" in with_initial.stdout

    stop = chimera("swarm", "stop", "executor-nobody", *common)
    assert stop.returncode == 2 and "sees only its own agents" in stop.stderr

    status = json.loads(chimera("swarm", "status", *common).stdout)
    assert status["backend"] == "local"

    bad = chimera("swarm", "submit", "add", "--args", "{a: 1}", *common)
    assert bad.returncode == 2 and "--args is not valid JSON" in bad.stderr
    wrong = chimera("swarm", "submit", "add", "--args", '{"a": "x", "b": 1}', *common)
    assert wrong.returncode == 2 and "must be int" in wrong.stderr
    unknown = chimera("swarm", "submit", "nope", *common)
    assert unknown.returncode == 2 and "no active tool named 'nope'" in unknown.stderr
    missing = chimera("swarm", "task", "nothing", *common)
    assert missing.returncode == 2 and "nothing" in missing.stderr


def _config(common: list[str], initial: str) -> Path:
    path = Path(common[1]).parent / "swarm.toml"
    path.write_text(f'[swarm]\ninitial_agents = "{initial}"\n')
    return path


def test_plan_shows_the_graph_and_runs_it(common: list[str], tmp_path: Path) -> None:
    form = tmp_path / "form.json"
    form.write_text(
        json.dumps({"tool": "twice", "over": {"items": [1, 2, 3]}, "summary": {"tool": "total"}})
    )
    shown = chimera("swarm", "plan", "--form", str(form), *common)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("twice over 3 item(s), then one total over all results")
    assert "total-summary" in shown.stdout and "(after twice-1, twice-2, twice-3)" in shown.stdout
    assert "no tasks" in chimera("swarm", "tasks", *common).stdout  # showing ran nothing

    ran = chimera("swarm", "plan", "--form", str(form), "--run", "--agents", "1", *common)
    assert ran.returncode == 0, ran.stderr
    (output,) = json.loads(ran.stdout[ran.stdout.index("[") :])
    assert (output["state"], output["result"]) == ("succeeded", 12)

    refused = chimera("swarm", "plan", "make me a sandwich", *common)
    assert refused.returncode == 2 and "no rule reads this request" in refused.stderr
    neither = chimera("swarm", "plan", *common)
    assert neither.returncode == 2 and "one of them" in neither.stderr
