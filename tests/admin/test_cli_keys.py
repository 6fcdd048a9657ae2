"""``chimera key``: API and node keys from the command line, as real subprocesses."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from chimera_engine.config import load_settings
from chimera_engine.errors import AuthenticationError
from chimera_engine.node import HeartNode
from chimera_engine.security.permissions import Role


def chimera(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chimera_engine", *args, "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def authenticate(data: Path, plaintext: str) -> Role:
    env = {"CHIMERA_SWARM__ENABLED": "false", "CHIMERA_API__ENABLED": "false"}
    settings = load_settings(data_dir=data, use_default_file=False, env=env)
    async with HeartNode(settings) as node:
        _, principal = node.security.api_keys.authenticate(plaintext)
        return principal.role


def test_node_key_is_printed_once_listed_and_revoked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = chimera(data, "key", "create", "--name", "workers on host b", "--node", "--ttl", "30d")
    assert made.returncode == 0, made.stderr
    plaintext = made.stdout.strip()
    assert plaintext.startswith("chk_") and "shown only this once" in made.stderr
    assert "CHIMERA_NODE_KEY" in made.stderr
    assert asyncio.run(authenticate(data, plaintext)) is Role.NODE

    api = chimera(
        data, "key", "create", "--name", "grafana", "--role", "observer", "--scope", "metrics.read"
    )
    assert api.returncode == 0, api.stderr
    listed = chimera(data, "key", "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "PREFIX", "NAME", "ROLE", "STATE"]
    assert plaintext not in listed.stdout and plaintext.split("_")[1] in listed.stdout
    assert any("node" in line and "active" in line for line in lines[1:])
    assert any("metrics.read" in line and "observer" in line for line in lines[1:])

    node_id = next(line.split()[0] for line in lines[1:] if "workers on host b" in line)
    revoked = chimera(data, "key", "revoke", node_id)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked" in chimera(data, "key", "list").stdout
    with pytest.raises(AuthenticationError, match="revoked"):
        asyncio.run(authenticate(data, plaintext))


def test_bad_key_requests_are_refused_clearly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    beyond = chimera(
        data, "key", "create", "--name", "x", "--role", "observer", "--scope", "patch.approve"
    )
    assert beyond.returncode == 2 and "does not hold: patch.approve" in beyond.stderr
    no_role = chimera(data, "key", "create", "--name", "x")
    assert no_role.returncode == 2 and "--role ROLE (or --node" in no_role.stderr
    clash = chimera(data, "key", "create", "--name", "x", "--node", "--role", "admin")
    assert clash.returncode == 2 and "--node makes a key with role node" in clash.stderr
    ttl = chimera(data, "key", "create", "--name", "x", "--node", "--ttl", "soon")
    assert ttl.returncode == 2 and "--ttl" in ttl.stderr
    missing = chimera(data, "key", "revoke", "99")
    assert missing.returncode == 2 and "99 does not exist" in missing.stderr
    assert "no keys" in chimera(data, "key", "list").stdout
