"""LLM providers: the real OpenAI and Anthropic SDKs against mocked httpx2 transports
(local servers, replay and keys: test_providers_local.py).

No network beyond loopback: the OpenAI/Anthropic SDKs get an
``httpx2.AsyncClient(transport=httpx2.MockTransport(...))``, the local provider
an ``httpx`` mock transport or respx, and the fake server binds 127.0.0.1:0.
"""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from chimera_engine.patches.providers import (
    AnthropicProvider,
    Completion,
    CompletionRequest,
    OpenAIProvider,
    ProviderAuthError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    RetryPolicy,
)
from tests.patches.fakes import (
    API_KEY,
    PATCH,
    REQUEST,
    CutStream2,
    Script,
    Sleeps,
    anthropic,
    anthropic_error_event,
    anthropic_sse,
    assert_no_key,
    error_response,
    openai,
    openai_sse,
    sse_response,
)

# ---- the two required end-to-end code generation tests -----------------------------------------


async def test_code_generation_openai() -> None:
    script = Script([sse_response(openai_sse(PATCH, usage=(1200, 300)))])
    client = script.client()
    provider = OpenAIProvider(API_KEY, http_client=client, retry=Sleeps().policy())
    completion = await provider.complete(REQUEST)
    assert completion == Completion(
        text="".join(PATCH),
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=1200,
        output_tokens=300,
        cost_usd=completion.cost_usd,
        latency_s=completion.latency_s,
        finish_reason="stop",
        truncated=False,
        attempts=1,
    )
    assert completion.cost_usd == pytest.approx(1200 * 0.15e-6 + 300 * 0.60e-6)
    assert completion.latency_s >= 0 and not completion.replay
    request = script.requests[0]
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = script.body()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == "gpt-4o-mini" and body["max_completion_tokens"] == 800
    assert body["temperature"] == 0.0
    assert body["messages"] == [
        {"role": "system", "content": REQUEST.system},
        {"role": "user", "content": REQUEST.prompt},
    ]
    await provider.aclose()
    assert not client.is_closed  # an injected client is the caller's to close
    await client.aclose()


async def test_code_generation_anthropic() -> None:
    script = Script([sse_response(anthropic_sse(PATCH, input_tokens=1200, output_tokens=300))])
    provider = anthropic(script)
    completion = await provider.complete(REQUEST)
    assert completion.text == "".join(PATCH)
    assert (completion.input_tokens, completion.output_tokens) == (1200, 300)
    assert completion.cost_usd == pytest.approx(1200 * 2e-6 + 300 * 10e-6)
    assert completion.finish_reason == "stop" and not completion.truncated
    assert (completion.provider, completion.model, completion.attempts) == (
        "anthropic",
        "claude-sonnet-5-5",
        1,
    )
    request = script.requests[0]
    assert request.url == "https://api.anthropic.com/v1/messages"
    body = script.body()
    assert body["stream"] is True and body["max_tokens"] == 800
    assert body["system"] == REQUEST.system
    assert body["messages"] == [{"role": "user", "content": REQUEST.prompt}]
    await provider.aclose()


# ---- retries ------------------------------------------------------------------------------------


async def test_openai_429_storm_with_retry_after_then_success() -> None:
    limited = error_response(
        429, {"error": {"message": "Rate limit reached"}}, **{"retry-after": "2"}
    )
    script = Script([limited, limited, sse_response(openai_sse(["ok"]))])
    sleeps = Sleeps()
    completion = await openai(script, sleeps).complete(REQUEST)
    assert completion.text == "ok" and completion.attempts == 3
    assert sleeps.delays == [2.0, 2.0]  # the server's hint, longer than the 0.5 s/1 s back-off
    assert len(script.requests) == 3


async def test_openai_permanent_429_gives_up_after_the_cap() -> None:
    limited = error_response(429, {"error": {"message": "slow down"}}, **{"retry-after": "30"})
    script, sleeps = Script([limited]), Sleeps()
    with pytest.raises(ProviderRateLimited) as caught:
        await openai(script, sleeps).complete(REQUEST)
    assert caught.value.attempts == 4 and len(script.requests) == 4
    assert caught.value.retry_after == 30.0
    assert sleeps.delays == [8.0, 8.0, 8.0]  # Retry-After capped at max_delay
    assert "rate limiting" in str(caught.value)


async def test_anthropic_429_storm_then_success_and_permanent_storm() -> None:
    limited = error_response(
        429,
        {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}},
        **{"retry-after": "1"},
    )
    script, sleeps = Script([limited, sse_response(anthropic_sse(["ok"]))]), Sleeps()
    assert (await anthropic(script, sleeps).complete(REQUEST)).attempts == 2
    assert sleeps.delays == [1.0]
    storm, sleeps = Script([limited]), Sleeps()
    with pytest.raises(ProviderRateLimited) as caught:
        await anthropic(storm, sleeps).complete(REQUEST)
    assert caught.value.attempts == 4 and len(storm.requests) == 4 and len(sleeps.delays) == 3


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_openai_5xx_is_retried(status: int) -> None:
    script = Script(
        [error_response(status, {"error": {"message": "boom"}}), sse_response(openai_sse(["fine"]))]
    )
    sleeps = Sleeps()
    completion = await openai(script, sleeps).complete(REQUEST)
    assert completion.text == "fine" and completion.attempts == 2
    assert sleeps.delays == [0.5]


async def test_anthropic_overloaded_529_and_mid_stream_overload_are_retried() -> None:
    overloaded = error_response(
        529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    mid_stream = sse_response(
        [
            *anthropic_sse(["par"], stop_reason=None, stop=False),
            anthropic_error_event("overloaded_error", "Overloaded"),
        ]
    )
    script = Script([overloaded, mid_stream, sse_response(anthropic_sse(["whole"]))])
    completion = await anthropic(script).complete(REQUEST)
    assert completion.text == "whole" and completion.attempts == 3


async def test_persistent_5xx_raises_unavailable_with_attempts() -> None:
    script = Script([error_response(503, {"error": {"message": "maintenance"}})])
    with pytest.raises(ProviderUnavailable) as caught:
        await openai(script).complete(REQUEST)
    assert caught.value.attempts == 4 and caught.value.status == 503
    assert "maintenance" in str(caught.value)


# ---- auth ---------------------------------------------------------------------------------------


async def test_openai_401_is_not_retried_and_hides_the_key() -> None:
    body = {
        "error": {
            "message": f"Incorrect API key provided: {API_KEY}.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    script, sleeps = Script([error_response(401, body)]), Sleeps()
    with pytest.raises(ProviderAuthError) as caught:
        await openai(script, sleeps).complete(REQUEST)
    assert len(script.requests) == 1 and sleeps.delays == [] and caught.value.attempts == 1
    assert caught.value.status == 401 and "refused the API key" in str(caught.value)
    assert_no_key(caught.value)
    assert caught.value.__cause__ is None  # the SDK error (which quotes the key) is not chained


async def test_anthropic_401_and_403_are_not_retried_and_hide_the_key() -> None:
    for status, kind in ((401, "authentication_error"), (403, "permission_error")):
        body = {"type": "error", "error": {"type": kind, "message": f"bad key {API_KEY}"}}
        script = Script([error_response(status, body)])
        with pytest.raises(ProviderAuthError) as caught:
            await anthropic(script).complete(REQUEST)
        assert len(script.requests) == 1
        assert_no_key(caught.value)


def test_repr_and_constructor_do_not_leak_the_key() -> None:
    provider = OpenAIProvider(API_KEY, http_client=httpx2.AsyncClient())
    assert API_KEY not in repr(provider)
    assert API_KEY not in repr(AnthropicProvider(API_KEY, http_client=httpx2.AsyncClient()))
    with pytest.raises(ProviderAuthError):
        OpenAIProvider("")


# ---- timeouts -----------------------------------------------------------------------------------


async def test_sdk_read_timeout_becomes_provider_timeout() -> None:
    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("timed out", request=request)

    for make in (openai, anthropic):
        script = Script([timeout])
        with pytest.raises(ProviderTimeout) as caught:
            await make(script).complete(REQUEST)
        assert caught.value.attempts == 4  # timeouts are retried


async def test_slow_answer_hits_the_request_timeout() -> None:
    async def slow(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(5)
        raise AssertionError("not reached")

    provider = OpenAIProvider(
        API_KEY,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(slow)),
        retry=RetryPolicy(max_attempts=1),
    )
    quick = CompletionRequest(system="s", prompt="p", max_tokens=5, timeout=0.05)
    with pytest.raises(ProviderTimeout, match=r"within 0\.05 s"):
        await provider.complete(quick)


# ---- truncated and cut streams ------------------------------------------------------------------


async def test_openai_truncated_streams() -> None:
    no_finish = Script([sse_response(openai_sse(["half"], finish=None, usage=None, done=False))])
    completion = await openai(no_finish).complete(REQUEST)
    assert completion.truncated and completion.finish_reason == "error"
    assert completion.cost_usd is None  # no usage reported: cost unknown
    length = Script([sse_response(openai_sse(["cut by"], finish="length"))])
    completion = await openai(length).complete(REQUEST)
    assert completion.truncated and completion.finish_reason == "length"
    assert completion.text == "cut by" and completion.output_tokens == 42


async def test_openai_connection_cut_mid_stream_raises_and_is_not_retried() -> None:
    def cut(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=CutStream2(openai_sse(["def f"])[:2]),
        )

    script = Script([cut])
    with pytest.raises(ProviderResponseError, match="cut off"):
        await openai(script).complete(REQUEST)
    assert len(script.requests) == 1


async def test_anthropic_truncated_streams() -> None:
    max_tokens = Script([sse_response(anthropic_sse(["long"], stop_reason="max_tokens"))])
    completion = await anthropic(max_tokens).complete(REQUEST)
    assert completion.truncated and completion.finish_reason == "length"
    no_stop = Script([sse_response(anthropic_sse(["half"], stop_reason=None, stop=False))])
    completion = await anthropic(no_stop).complete(REQUEST)
    assert completion.truncated and completion.finish_reason == "error"
    assert completion.text == "half" and completion.input_tokens == 310


async def test_anthropic_connection_cut_mid_stream_raises() -> None:
    def cut(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            200,
            headers={"content-type": "text/event-stream"},
            stream=CutStream2(anthropic_sse(["def f"])[:4]),
        )

    script = Script([cut])
    with pytest.raises(ProviderResponseError, match="cut off after 5 characters"):
        await anthropic(script).complete(REQUEST)
    assert len(script.requests) == 1
