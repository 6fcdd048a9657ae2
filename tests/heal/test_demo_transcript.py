"""The shipped demo transcript answers the demo's faults with fixes that pass the sandbox.

For each fault of :mod:`chimera_engine.demo.faults`, the request the engine would
build (with the fault's real failing calls as evidence) must be answered with
that fault's fix, and the fix must pass the real sandbox against the shipped
demo workspace: new tests fail before and pass after, every existing test still
passes.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chimera_engine.config import load_settings
from chimera_engine.demo.faults import FAULTS
from chimera_engine.node import HeartNode
from chimera_engine.patches.configure import default_transcript
from chimera_engine.patches.patchformat import materialise, parse_answer
from chimera_engine.patches.prompts import SYSTEM, build_prompt
from chimera_engine.patches.providers.base import CompletionRequest
from chimera_engine.patches.providers.replay import ReplayProvider
from chimera_engine.runtime import ToolCallError
from chimera_engine.security.manager import Session
from chimera_engine.workspace import seed_demo_workspace

pytestmark = pytest.mark.slow


@contextlib.asynccontextmanager
async def demo_engine(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, Session]]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=seed_demo_workspace(tmp_path / "ws"),
        use_default_file=False,
        env={
            "CHIMERA_API__ENABLED": "false",
            "CHIMERA_SWARM__ENABLED": "false",
            "CHIMERA_DEMO__ENABLED": "false",
            "CHIMERA_HEAL__ENABLED": "false",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_METRICS__ENABLED": "false",
        },
    )
    async with HeartNode(settings) as node:
        yield node, await node.facade.sessions.create_first_admin("admin", "correct horse battery")


async def test_every_demo_fault_gets_its_tested_fix(tmp_path: Path) -> None:
    transcript = default_transcript()
    assert transcript.is_file()
    provider = ReplayProvider(transcript)
    faults = {e["fault"]: e for e in provider.exchanges}
    assert sorted(faults) == sorted(FAULTS)
    rng = random.Random(3)
    async with demo_engine(tmp_path) as (node, admin):
        for name, fault_type in FAULTS.items():
            fault = fault_type()
            for _ in range(3):  # the fault's own calls; some fail, and that is evidence
                with contextlib.suppress(ToolCallError):
                    await node.runtime.call(fault.tool, fault.arguments(rng), admin.principal)
            request = await node.facade.patches.build_request(fault.module, f"the {name} fault")
            if name in ("csv_shape", "error_burst"):
                assert request.failures, name
            prompt = build_prompt(request, f"tools/{fault.module}.py", [], [])
            answer = await provider.complete(
                CompletionRequest(system=SYSTEM, prompt=prompt, max_tokens=4000, timeout=5)
            )
            assert answer.replay and answer.text == faults[name]["response"], name
            queue = node.patches
            path = queue.module_path(fault.module)
            content = materialise(
                parse_answer(answer.text),
                {path: request.source},
                allowed={path},
                existing_tests=queue.existing_tests(),
            )
            result = await queue.tester.test(content, fault.module)
            assert result.ok, (name, result.reason, result.output_excerpt)
