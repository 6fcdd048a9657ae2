"""Shared set-up for the scenario tests: a real engine over a copy of the demo
workspace (plus one fan-in tool), its HTTP API on loopback, real agent processes,
and the people who act on it (an administrator, an operator, an observer and an
API client)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import httpx

from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Role

PASSWORD = "correct horse battery"

REPORTS = '''"""Summaries over the results of other tools (a fan-in step)."""

from __future__ import annotations

from typing import Any

from chimera_engine.tooling import tool


@tool(name="summarise_cleaned", description="Files, rows, dropped rows and columns of cleaned CSVs")
def summarise_cleaned(results: list) -> dict[str, Any]:
    return {
        "files": len(results),
        "rows": sum(r["rows"] for r in results),
        "dropped": sum(r["dropped"] for r in results),
        "columns": sorted({c for r in results for c in r["columns"]}),
    }


@tool(name="merge_levels", description="Add up the per-level line counts of parsed logs")
def merge_levels(results: list) -> dict[str, int]:
    total: dict[str, int] = {}
    for r in results:
        for level, n in r["levels"].items():
            total[level] = total.get(level, 0) + n
    return dict(sorted(total.items()))
'''

BASE_ENV = {
    "CHIMERA_API__PORT": "0",
    "CHIMERA_DEMO__ENABLED": "false",
    "CHIMERA_SWARM__HEARTBEAT_INTERVAL": "0.2",
    "CHIMERA_SWARM__HEARTBEAT_TIMEOUT": "2",
    "CHIMERA_SWARM__STOP_GRACE": "2",
    "CHIMERA_SWARM__MAX_AGENTS": "4",
    "CHIMERA_RATELIMIT__WRITE_PER_MINUTE": "100000",
    "CHIMERA_RATELIMIT__READ_PER_MINUTE": "100000",
}


def demo_workspace_copy(target: Path) -> Path:
    """The bundled demo workspace, copied, with ``tools/reports.py`` added."""
    source = resources.files("chimera_engine.demo").joinpath("workspace")
    with resources.as_file(source) as src:
        shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / "tools" / "reports.py").write_text(REPORTS, encoding="utf-8")
    return target


@dataclass
class People:
    admin: Session
    operator: Session
    observer: Session
    api_key: str


@dataclass
class Scenario:
    node: HeartNode
    workspace: Path
    people: People
    http: httpx.AsyncClient

    def bearer(self, session: Session) -> dict[str, str]:
        return {"Authorization": f"Bearer {session.tokens.access_token}"}

    @property
    def client_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.people.api_key}


@asynccontextmanager
async def scenario(tmp_path: Path, **env: str) -> AsyncIterator[Scenario]:
    """Start the engine (API on an ephemeral loopback port) and create the people."""
    workspace = demo_workspace_copy(tmp_path / "workspace")
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=workspace,
        env={**BASE_ENV, **env},
        use_default_file=False,
    )
    async with HeartNode(settings) as node:
        assert node.api is not None, node.api_error
        facade = node.facade
        admin = await facade.sessions.create_first_admin("admin", PASSWORD)
        sessions = {}
        for name, role in (("olga", Role.OPERATOR), ("otto", Role.OBSERVER)):
            await facade.admin.create_user(admin.principal, name, PASSWORD, role)
            sessions[role] = await facade.sessions.login(name, PASSWORD)
        key, _ = await facade.admin.create_api_key(
            admin.principal, name="etl-client", role=Role.API_CLIENT
        )
        people = People(
            admin=admin,
            operator=sessions[Role.OPERATOR],
            observer=sessions[Role.OBSERVER],
            api_key=key,
        )
        async with httpx.AsyncClient(base_url=node.api.url, timeout=60) as http:
            yield Scenario(node=node, workspace=workspace, people=people, http=http)
