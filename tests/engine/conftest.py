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
    return load_settings(data_dir=data_dir, env=env, use_default_file=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
async def node(settings: Settings) -> AsyncIterator[HeartNode]:
    node = HeartNode(settings)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


@pytest.fixture
async def admin(node: HeartNode) -> Session:
    return await node.facade.create_first_admin("admin", ADMIN_PASSWORD)


@pytest.fixture
def user_factory(node: HeartNode, admin: Session) -> Callable[[str, str], object]:
    async def create(name: str, role: str) -> Session:
        await node.facade.create_user(admin.principal, name, ADMIN_PASSWORD, role)
        return await node.facade.login(name, ADMIN_PASSWORD)

    return create
