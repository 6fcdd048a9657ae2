"""Fixtures for engine tests: a real HeartNode on a temporary data dir. No Qt here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chimera_engine.config import Settings, load_settings
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session

ADMIN_PASSWORD = "correct horse battery"


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings for a test engine: its API on an ephemeral loopback port."""
    return load_settings(
        data_dir=data_dir,
        # no background demo workload unless a test asks for one
        # versions here are replaced within milliseconds: judge none of them unproven
        env={
            "CHIMERA_API__PORT": "0",
            "CHIMERA_DEMO__ENABLED": "false",
            "CHIMERA_TOOLS__TRUST_AFTER": "0",
            **env,
        },
        use_default_file=False,
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
async def node(settings: Settings) -> AsyncIterator[HeartNode]:
    async with HeartNode(settings) as node:
        yield node


@pytest.fixture
async def admin(node: HeartNode) -> Session:
    return await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)


@pytest.fixture
def user_factory(node: HeartNode, admin: Session) -> Callable[[str, str], object]:
    async def create(name: str, role: str) -> Session:
        await node.facade.admin.create_user(admin.principal, name, ADMIN_PASSWORD, role)
        return await node.facade.sessions.login(name, ADMIN_PASSWORD)

    return create


def write_module(root: Path, name: str, source: str) -> Path:
    tools = root / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    path = tools / f"{name}.py"
    path.write_text(source)
    return path


GREETER_V1 = """
from chimera_engine.tooling import tool

VERSION = 1

@tool(name="greet", description="Say hello")
def greet(name: str, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    write_module(root, "greeter", GREETER_V1)
    return root


@pytest.fixture
async def ws_node(tmp_path: Path, workspace: Path) -> AsyncIterator[HeartNode]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        # versions here are replaced within milliseconds; judge none of them unproven
        env={"CHIMERA_API__PORT": "0", "CHIMERA_TOOLS__TRUST_AFTER": "0"},
        use_default_file=False,
    )
    async with HeartNode(settings) as node:
        yield node
