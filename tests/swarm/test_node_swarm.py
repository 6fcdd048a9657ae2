"""The swarm as part of the engine: HeartNode starts it, the facade reaches it, a restart
shows the history, and a Dask scheduler that is down does not stop the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from chimera_engine.config import load_settings
from chimera_engine.errors import PermissionDeniedError
from chimera_engine.node import HeartNode
from chimera_engine.security.permissions import Role
from chimera_engine.swarm.models import AgentSpec, Task, TaskState

PASSWORD = "correct horse battery"


def settings(tmp_path: Path, workspace: Path, **env: str) -> object:
    return load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        use_default_file=False,
        env={
            "CHIMERA_API__ENABLED": "false",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_METRICS__ENABLED": "false",
            "CHIMERA_SWARM__HEARTBEAT_INTERVAL": "0.2",
            **env,
        },
    )


async def test_engine_runs_the_swarm_through_the_facade(tmp_path: Path, workspace: Path) -> None:
    node = HeartNode(settings(tmp_path, workspace))  # type: ignore[arg-type]
    async with node:
        assert node.swarm_running and node.status().schema_version >= 7
        admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
        await node.facade.admin.create_user(admin, "otto", PASSWORD, Role.OBSERVER)
        observer = (await node.facade.sessions.login("otto", PASSWORD)).principal

        agent = await node.facade.swarm.spawn(admin, AgentSpec(role="executor"))
        assert agent.role == "executor"
        with pytest.raises(PermissionDeniedError):
            await node.facade.swarm.spawn(observer, AgentSpec(role="executor"))
        (info,) = await node.facade.swarm.submit(admin, [Task(tool="add", inputs={"a": 2, "b": 3})])
        done = await node.swarm.wait(info.id, 10)
        assert done.state is TaskState.SUCCEEDED and done.result == 5
        assert [a.id for a in await node.facade.swarm.agents(observer)] == [agent.id]
    assert not node.swarm_running  # stopped with the engine: no agent process left behind

    again = HeartNode(settings(tmp_path, workspace))  # type: ignore[arg-type]
    async with again:
        admin = (await again.facade.sessions.login("admin", PASSWORD)).principal
        history = await again.facade.swarm.history(admin)
        assert [(h.id, h.state, h.result) for h in history] == [(info.id, TaskState.SUCCEEDED, 5)]


async def test_an_unreachable_scheduler_is_waited_for_and_reported(
    tmp_path: Path, workspace: Path
) -> None:
    pytest.importorskip("distributed")
    node = HeartNode(
        settings(  # type: ignore[arg-type]
            tmp_path,
            workspace,
            CHIMERA_SWARM__BACKEND="dask",
            CHIMERA_SWARM__SCHEDULER_ADDRESS="tcp://127.0.0.1:9",
            CHIMERA_SWARM__CONNECT_TIMEOUT="1",
        )
    )
    async with node:
        assert node.state == "running" and node.swarm_running  # it keeps trying to connect
        admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
        assert await node.facade.swarm.agents(admin) == []
        stats = await node.facade.swarm.status(admin)
        assert stats.scheduler == "tcp://127.0.0.1:9"
        assert stats.scheduler_unreachable_since is not None and stats.scheduler_error


async def test_swarm_can_be_left_out(tmp_path: Path, workspace: Path) -> None:
    node = HeartNode(settings(tmp_path, workspace, CHIMERA_SWARM__ENABLED="false"))  # type: ignore[arg-type]
    async with node:
        assert node.state == "running" and not node.swarm_running
