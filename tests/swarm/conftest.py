"""Fixtures for swarm tests: a real engine (with the swarm tables), a workspace of test
tools, and a coordinator whose agents are real processes. No Qt here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.credentials import ApiKeyNodeCredentials
from chimera_engine.swarm.settings import SwarmSettings
from chimera_engine.swarm.store import SwarmStore
from chimera_engine.swarm.tools import RegistryToolSource

OPERATOR = Principal.system("swarm-test")

TOOLS = """
import asyncio
import os
import signal
import time

from chimera_engine.tooling import tool

from .helpers import double

MODE = os.environ.get("SWARM_TEST_MODE", "")


@tool(name="echo")
def echo(x: object = None) -> object:
    return x


@tool(name="add")
def add(a: int, b: int) -> int:
    return a + b


@tool(name="twice")
def twice(x: int) -> int:
    return double(x)


@tool(name="nap")
def nap(seconds: float = 0.01) -> float:
    time.sleep(seconds)
    return seconds


@tool(name="boom")
def boom(message: str = "boom") -> None:
    raise ValueError(message)


@tool(name="hang")
def hang() -> None:
    time.sleep(3600)


@tool(name="block_loop")
async def block_loop() -> None:
    time.sleep(3600)  # blocks the agent's loop: no more heartbeats


@tool(name="die")
def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@tool(name="whoami")
def whoami(x: int = 0) -> str:
    return os.environ.get("CHIMERA_AGENT_ID", "")


@tool(name="flavoured")
def flavoured(x: int) -> int:
    if MODE == "slow":
        time.sleep(0.03)
    if MODE == "fail":
        raise RuntimeError("this agent is broken")
    if MODE == "wrong":
        return x + 1
    return x * 10


@tool(name="measure")
def measure(x: float) -> dict:
    bias = float(os.environ.get("SWARM_TEST_BIAS", "0"))
    confidence = float(os.environ.get("SWARM_TEST_CONFIDENCE", "1"))
    return {"value": x + bias, "confidence": confidence}


@tool(name="count")
def count(rows: list) -> int:
    return len(rows)


@tool(name="total")
def total(results: list) -> int:
    return sum(results)


@tool(name="unjsonable")
def unjsonable() -> object:
    return {1, 2}


@tool(name="answer")
def answer(prompt: str) -> str:
    return f"answered: {prompt}"


@tool(name="async_echo")
async def async_echo(x: object = None) -> object:
    await asyncio.sleep(0)
    return x
"""

HELPERS = """
def double(x):
    return 2 * x
"""


def write_tools(root: Path, source: str = TOOLS) -> Path:
    tools = root / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    (tools / "helpers.py").write_text(HELPERS)
    path = tools / "swarmtools.py"
    path.write_text(source)
    return path


def fast_settings(**overrides: Any) -> SwarmSettings:
    values: dict[str, Any] = {
        "heartbeat_interval": 0.2,
        "heartbeat_timeout": 1.5,
        "stop_grace": 2.0,
        "task_timeout": 10.0,
        "timeout_grace": 1.0,
        "ready_timeout": 10.0,
        "prompt_tool": "answer",
    }
    values.update(overrides)
    return SwarmSettings(**values)


def engine(data: Path, workspace: Path) -> HeartNode:
    settings = load_settings(
        data_dir=data,
        workspace=workspace,
        use_default_file=False,
        env={
            "CHIMERA_API__ENABLED": "false",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_SWARM__ENABLED": "false",  # each test builds its own coordinator
        },
    )
    return HeartNode(settings)


def coordinator(node: HeartNode, settings: SwarmSettings) -> SwarmCoordinator:
    return SwarmCoordinator(
        store=SwarmStore(node.db),
        tools=RegistryToolSource(node.reload.registry),
        audit=node.security.audit,
        bus=node.bus,
        credentials=ApiKeyNodeCredentials(node.security.api_keys),
        settings=settings,
        spawn=lambda coro, name: node.spawn(coro, name=name),
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_tools(root)
    return root


@pytest.fixture
async def node(tmp_path: Path, workspace: Path) -> AsyncIterator[HeartNode]:
    n = engine(tmp_path / "data", workspace)
    await n.start()
    try:
        yield n
    finally:
        await n.stop()


@pytest.fixture
def swarm_settings() -> SwarmSettings:
    return fast_settings()


@pytest.fixture
async def swarm(node: HeartNode, swarm_settings: SwarmSettings) -> AsyncIterator[SwarmCoordinator]:
    s = coordinator(node, swarm_settings)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
def make_swarm(node: HeartNode) -> Callable[..., SwarmCoordinator]:
    def build(**overrides: Any) -> SwarmCoordinator:
        return coordinator(node, fast_settings(**overrides))

    return build
