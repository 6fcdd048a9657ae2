"""Providers against a model server process on loopback that misbehaves in every way
an operator meets: an HTML page, malformed JSON, a 500, an unknown model, another API
kind, a context too small, a stream without usage, a server too slow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chimera_engine.patches.attempts import CONTEXT, TRUNCATED, AttemptDraft
from chimera_engine.patches.generator import CodeGenerator, GenerationPolicy
from chimera_engine.patches.models import FailureSample, PatchRequest
from chimera_engine.patches.provider_failures import describe_failure
from chimera_engine.patches.providers import (
    CompletionRequest,
    LocalLLMProvider,
    OpenAIProvider,
    ProviderNotAPI,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnknownModel,
    ProviderWrongAPI,
    RetryPolicy,
    test_connection,
)
from chimera_engine.patches.store import PatternStore
from tests.patches.server_proc import llm_server

ONCE = RetryPolicy(max_attempts=1)


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    async with llm_server(tmp_path) as base:
        yield base


def local(base: str, mode: str, api: str = "openai", **kwargs: object) -> LocalLLMProvider:
    return LocalLLMProvider(f"{base}/{mode}", "tiny", api=api, retry=ONCE, **kwargs)  # type: ignore[arg-type]


def sdk(base: str, mode: str) -> OpenAIProvider:
    return OpenAIProvider("sk-test-0000000000", "tiny", base_url=f"{base}/{mode}/v1", retry=ONCE)


@pytest.mark.parametrize("make", [local, sdk], ids=["local", "openai-sdk"])
async def test_html_page_is_not_an_api(url: str, make: object) -> None:
    provider = make(url, "html")  # type: ignore[operator]
    with pytest.raises(ProviderNotAPI, match="HTML page, not an API") as caught:
        await test_connection(provider, timeout=5)
    assert describe_failure(caught.value, "tiny")[0] == "not_api"
    await provider.aclose()


@pytest.mark.parametrize("make", [local, sdk], ids=["local", "openai-sdk"])
async def test_malformed_json_is_named(url: str, make: object) -> None:
    provider = make(url, "badjson")  # type: ignore[operator]
    with pytest.raises(ProviderNotAPI, match="malformed") as caught:
        await test_connection(provider, timeout=5)
    assert describe_failure(caught.value, "tiny")[0] == "not_api"
    await provider.aclose()


async def test_json_that_is_no_chat_completion(url: str) -> None:
    provider = local(url, "notchat")
    with pytest.raises(ProviderNotAPI, match="not a chat completion"):
        await test_connection(provider, timeout=5)
    await provider.aclose()


@pytest.mark.parametrize("make", [local, sdk], ids=["local", "openai-sdk"])
async def test_server_error_is_unavailable(url: str, make: object) -> None:
    provider = make(url, "e500")  # type: ignore[operator]
    with pytest.raises(ProviderUnavailable, match=r"HTTP 500.*model crashed") as caught:
        await test_connection(provider, timeout=5)
    assert describe_failure(caught.value, "tiny")[0] == "unreachable"
    await provider.aclose()


@pytest.mark.parametrize("make", [local, sdk], ids=["local", "openai-sdk"])
async def test_unknown_model_is_named(url: str, make: object) -> None:
    provider = make(url, "unknownmodel")  # type: ignore[operator]
    with pytest.raises(ProviderUnknownModel, match="does not exist") as caught:
        await test_connection(provider, timeout=5)
    kind, message = describe_failure(caught.value, "tiny")
    assert kind == "model" and "'tiny'" in message
    await provider.aclose()


async def test_ollama_kind_against_an_openai_server_says_wrong_api(url: str) -> None:
    provider = local(url, "ok", api="ollama")
    with pytest.raises(ProviderWrongAPI, match=r"no Ollama's API.*'openai-compatible'") as caught:
        await test_connection(provider, timeout=5)
    kind, message = describe_failure(caught.value, "tiny")
    assert kind == "wrong_api" and "model" not in message.split(":")[0]
    await provider.aclose()


async def test_openai_kind_against_ollama_says_wrong_api(url: str) -> None:
    provider = local(url, "ollama")
    with pytest.raises(ProviderWrongAPI, match="'ollama'"):
        await test_connection(provider, timeout=5)
    await provider.aclose()


async def test_unreachable_server(url: str) -> None:
    provider = LocalLLMProvider("http://127.0.0.1:9", "tiny", api="openai", retry=ONCE)
    with pytest.raises(ProviderUnavailable, match="is the server running") as caught:
        await test_connection(provider, timeout=5)
    assert describe_failure(caught.value, "tiny")[0] == "unreachable"


async def test_too_slow_is_a_timeout(url: str) -> None:
    provider = local(url, "slow")
    with pytest.raises(ProviderTimeout) as caught:
        await test_connection(provider, timeout=0.5)
    assert describe_failure(caught.value, "tiny")[0] == "timeout"
    await provider.aclose()


@pytest.mark.parametrize("make", [local, sdk], ids=["local", "openai-sdk"])
async def test_stream_without_usage_reads_unknown(url: str, make: object) -> None:
    provider = make(url, "nousage")  # type: ignore[operator]
    completion = await provider.complete(  # type: ignore[attr-defined]
        CompletionRequest(system="s", prompt="p", max_tokens=20, timeout=5)
    )
    assert completion.text == "ok" and not completion.usage_known
    message = await test_connection(provider, timeout=5)  # type: ignore[arg-type]
    assert "tokens unknown" in message and "0 in" not in message
    await provider.aclose()  # type: ignore[attr-defined]


async def test_good_server_reports_usage_context_and_progress(url: str) -> None:
    provider = local(url, "ok")
    seen: list[tuple[int, int]] = []
    completion = await provider.complete(
        CompletionRequest(
            system="s",
            prompt="p",
            max_tokens=20,
            timeout=5,
            progress=lambda chars, pieces: seen.append((chars, pieces)),
        )
    )
    assert completion.usage_known and completion.output_tokens == 1
    assert seen == [(2, 1)]
    assert await provider.context_length() == 8192
    message = await test_connection(provider, timeout=5)
    assert "answered 'ok'" in message and "context 8,192 tokens" in message
    await provider.aclose()


async def test_output_limit_parameter_per_server_kind(url: str) -> None:
    provider = sdk(url, "ok")
    assert provider.token_param == "max_tokens"  # an OpenAI-compatible server reads this one
    await test_connection(provider, timeout=5)
    async with httpx.AsyncClient(trust_env=False) as client:
        sent = (await client.get(f"{url}/ok/_last")).json()
    assert sent["max_tokens"] == 16 and "max_completion_tokens" not in sent
    await provider.aclose()
    official = OpenAIProvider("sk-test-0000000000", "gpt-4o-mini")
    assert official.token_param == "max_completion_tokens"
    await official.aclose()


async def test_ollama_context_from_api_show(url: str) -> None:
    provider = local(url, "ollama", api="ollama")
    assert await provider.context_length() == 4096  # num_ctx, the one Ollama runs with
    assert "context 4,096 tokens" in await test_connection(provider, timeout=5)
    await provider.aclose()


# ---- the context window --------------------------------------------------------------------------


class _NoPatterns(PatternStore):
    def __init__(self) -> None:
        pass

    async def similar(self, signature: str, limit: int = 3) -> list:  # type: ignore[type-arg,override]
        return []


def _module(filler_functions: int) -> str:
    filler = "".join(
        f"\n\ndef helper_{i}(x):\n    '''{'documentation ' * 30}'''\n    return x + {i}\n"
        for i in range(filler_functions)
    )
    return f"def ratio(a, b):\n    return a / b\n{filler}"


def _request(source: str) -> PatchRequest:
    failure = FailureSample(
        args={"a": 1, "b": 0},
        exception_type="ZeroDivisionError",
        message="division by zero",
        traceback='Traceback:\n  File "tools/mathy.py", line 2, in ratio\nZeroDivisionError',
    )
    return PatchRequest(module="mathy", base_version=1, source=source, failures=[failure])


async def _generate(provider: LocalLLMProvider, source: str) -> list[AttemptDraft]:
    drafts: list[AttemptDraft] = []

    async def keep(draft: AttemptDraft) -> None:
        drafts.append(draft)

    async def never(*_: object) -> str:
        return "unused"

    generator = CodeGenerator(provider, _NoPatterns(), GenerationPolicy(max_attempts=1))
    await generator.generate(
        _request(source),
        path="tools/mathy.py",
        existing_tests=set(),
        on_candidate=never,
        on_attempt=keep,
    )
    return drafts


async def test_module_too_big_for_the_context_is_shrunk_to_the_failing_function(
    url: str,
) -> None:
    provider = local(url, "small")
    drafts = await _generate(provider, _module(40))  # ~18,000 characters: far past 2,048 tokens
    assert len(drafts) == 1
    prompt = drafts[0].prompt
    assert "EXCERPT" in prompt and "def ratio" in prompt and "helper_3" not in prompt
    assert drafts[0].verdict != CONTEXT  # it was sent, and the server took it
    await provider.aclose()


async def test_nothing_fits_says_how_big_the_context_is(url: str) -> None:
    provider = local(url, "small")
    huge = "def ratio(a, b):\n    '''" + "words " * 3000 + "'''\n    return a / b\n"
    drafts = await _generate(provider, huge)
    assert [d.verdict for d in drafts] == [CONTEXT]
    assert "the model's context (2,048 tokens) is too small for this module" in drafts[0].reason
    await provider.aclose()


async def test_server_side_overflow_is_a_context_verdict(url: str) -> None:
    # the configured context is wrong (larger than the server's): the server refuses
    provider = local(url, "small")
    provider.context_length = _unknown  # type: ignore[method-assign]
    drafts = await _generate(provider, _module(40))
    assert [d.verdict for d in drafts] == [CONTEXT]
    assert "exceeds the available context size" in drafts[0].reason
    await provider.aclose()


async def test_answer_cut_by_the_context_says_so(url: str, tmp_path: Path) -> None:
    async with llm_server(tmp_path, answers=["word " * 1500]) as base:
        provider = local(base, "small")
        provider.context_length = _unknown  # type: ignore[method-assign]
        drafts = await _generate(provider, _module(8))
        assert [d.verdict for d in drafts] == [TRUNCATED]
        assert "below the output limit" in drafts[0].reason
        assert drafts[0].input_tokens is not None and drafts[0].answer.startswith("word")
        await provider.aclose()


async def _unknown() -> int | None:
    return None
