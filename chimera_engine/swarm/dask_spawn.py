"""Starting a ``dask worker`` process on this machine for ``spawn_agent`` on the Dask backend."""

from __future__ import annotations

import asyncio
import os
import sys

from chimera_engine.swarm.execution import NODE_KEY_ENV
from chimera_engine.swarm.models import AgentSpec, new_id
from chimera_engine.swarm.settings import SwarmSettings

CAPABILITY_PREFIX = "cap-"


async def spawn_worker(
    settings: SwarmSettings,
    spec: AgentSpec,
    node_key: str,
    pending: set[str],
    procs: dict[str, asyncio.subprocess.Process],
) -> tuple[str, asyncio.subprocess.Process]:
    """Start the process (it joins the scheduler by itself); the agent id is its name.
    The id is added to ``pending`` (the caller removes it) and the process to ``procs``."""
    agent_id = f"{spec.role}-{new_id()[:8]}"
    resources = " ".join(
        [
            f"{spec.role}={spec.concurrency}",
            *(f"{CAPABILITY_PREFIX}{c}={spec.concurrency}" for c in sorted(spec.capabilities)),
        ]
    )
    env = {**os.environ, **spec.env, NODE_KEY_ENV: node_key, "CHIMERA_AGENT_ID": agent_id}
    pending.add(agent_id)
    proc = await asyncio.create_subprocess_exec(
        settings.python or sys.executable,
        "-m",
        "distributed.cli.dask_worker",
        settings.scheduler_address,
        "--nthreads",
        str(spec.concurrency),
        "--nworkers",
        "1",
        "--no-nanny",
        "--no-dashboard",
        "--name",
        agent_id,
        "--resources",
        resources,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    procs[agent_id] = proc
    return agent_id, proc
