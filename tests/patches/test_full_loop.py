"""The whole loop through real model clients: fault -> request -> provider -> sandbox ->
approve -> hot reload -> watch -> kept. The provider is the real ``openai`` or
``anthropic`` SDK over a mock transport (given to the node through its public
``use_provider``), or the configured OpenAI-compatible kind talking HTTP to a model
server process on loopback. A junk first answer is kept as a failed attempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode
from chimera_engine.patches.models import PatchState
from chimera_engine.patches.providers.base import Provider
from chimera_engine.runtime import ToolCallError
from chimera_engine.security.manager import Session
from tests.patches.conftest_helpers import FIX, make_workspace
from tests.patches.fakes import Script, anthropic, anthropic_sse, openai, openai_sse, sse_response
from tests.patches.server_proc import llm_server

PASSWORD = "correct horse battery"
JUNK = "Sure! Division by zero is a classic problem; you should check the divisor."


def _pieces(text: str, size: int = 40) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def openai_sdk() -> Provider:
    return openai(
        Script(
            [
                sse_response(openai_sse(_pieces(JUNK), usage=(900, 20))),
                sse_response(openai_sse(_pieces(FIX), usage=(1221, 180))),
            ]
        )
    )


def anthropic_sdk() -> Provider:
    return anthropic(
        Script(
            [
                sse_response(anthropic_sse(_pieces(JUNK), input_tokens=900, output_tokens=20)),
                sse_response(anthropic_sse(_pieces(FIX), input_tokens=1221, output_tokens=180)),
            ]
        )
    )


@asynccontextmanager
async def engine(tmp_path: Path, **env: str) -> AsyncIterator[tuple[HeartNode, Session]]:
    settings = load_settings(
        data_dir=tmp_path / "data",
        workspace=make_workspace(tmp_path / "ws"),
        use_default_file=False,
        env={
            "CHIMERA_API__ENABLED": "false",
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_CODEGEN__WATCH_SECONDS": "0.5",
            "CHIMERA_CODEGEN__WATCH_MIN_CALLS": "3",
            **env,
        },
    )
    async with HeartNode(settings) as node:
        admin = await node.facade.sessions.create_first_admin("admin", PASSWORD)
        yield node, admin


async def run_loop(node: HeartNode, admin: Session, tokens_known: bool) -> None:
    principal = admin.principal
    for _ in range(3):  # the fault
        with pytest.raises(ToolCallError):
            await node.runtime.call("ratio", {"a": 1, "b": 0}, principal)
    outcome = await node.facade.patches.request_patch(principal, "mathy", note="division errors")
    assert outcome.report.ok and outcome.patch is not None, outcome.report.reasons
    assert outcome.patch.state is PatchState.READY and outcome.report.attempts == 2

    attempts = await node.facade.patches.list_attempts(principal)
    assert [(a.number, a.verdict) for a in attempts] == [(2, "passed"), (1, "unparseable")]
    failed = attempts[1]
    assert failed.answer.startswith("Sure!") and "ZeroDivisionError" in failed.prompt
    assert failed.trigger["reason"] == "requested by admin"
    assert failed.trigger["failures"][0].startswith("ZeroDivisionError")
    assert attempts[0].patch_id == outcome.patch.id and failed.patch_id is None
    if tokens_known:
        assert (failed.input_tokens, failed.output_tokens) == (900, 20)
        assert (attempts[0].input_tokens, attempts[0].output_tokens) == (1221, 180)
    assert failed.latency_s is not None and failed.latency_s >= 0
    assert await node.facade.patches.count_failed_attempts(principal) == 1

    applied = await node.facade.patches.approve_patch(principal, outcome.patch.id)
    assert applied.state is PatchState.APPLIED
    assert await node.runtime.call("ratio", {"a": 1, "b": 0}, principal) == 0.0  # reloaded
    for a in range(1, 6):
        await node.runtime.call("ratio", {"a": a, "b": 2}, principal)
    for _ in range(100):  # the watch decides
        patch, _ = await node.facade.patches.get_patch(principal, outcome.patch.id)
        if patch.state is not PatchState.APPLIED:
            break
        await asyncio.sleep(0.05)
    assert patch.state is PatchState.KEPT, patch.reason


@pytest.mark.parametrize("make", [openai_sdk, anthropic_sdk], ids=["openai", "anthropic"])
async def test_full_loop_through_a_real_sdk(tmp_path: Path, make: Callable[[], Provider]) -> None:
    provider = make()
    async with engine(tmp_path) as (node, admin):
        node.use_provider(provider)
        await run_loop(node, admin, tokens_known=True)
    await provider.aclose()


async def test_full_loop_against_a_model_server_process(tmp_path: Path) -> None:
    async with (
        llm_server(tmp_path, answers=[JUNK, FIX]) as url,
        engine(
            tmp_path,
            CHIMERA_CODEGEN__PROVIDER="openai-compatible",
            CHIMERA_CODEGEN__BASE_URL=f"{url}/ok",
            CHIMERA_CODEGEN__MODEL="tiny",
        ) as (node, admin),
    ):
        await run_loop(node, admin, tokens_known=False)
        attempts = await node.facade.patches.list_attempts(admin.principal)
        assert all(a.provider == "local" and a.model == "tiny" for a in attempts)
        assert all(a.input_tokens is not None for a in attempts)  # the server reported usage
        built = node.generator().provider
        given = openai_sdk()
        node.use_provider(given)  # the provider the node built is closed, after a grace
        assert node.generator().provider is given
    assert built._client.is_closed  # type: ignore[attr-defined]
    await given.aclose()
