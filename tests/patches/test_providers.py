"""LLM providers: the real SDKs against mocked httpx2 transports, local servers, replay, keys.

No network beyond loopback: the OpenAI/Anthropic SDKs get an
``httpx2.AsyncClient(transport=httpx2.MockTransport(...))``, the local provider
an ``httpx`` mock transport or respx, and the fake server binds 127.0.0.1:0.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import httpx2
import pytest
import respx

from chimera_engine.errors import ConfigError
from chimera_engine.patches.providers import (
    AnthropicProvider,
    Completion,
    CompletionRequest,
    LocalLLMProvider,
    OpenAIProvider,
    ProviderAuthError,
    ProviderError,
    ProviderExhausted,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    RecordingProvider,
    ReplayProvider,
    RetryPolicy,
    build_provider,
    cost_usd,
    factory,
    resolve_api_key,
    test_connection,
)
from tests.patches.fakes import (
    API_KEY,
    PATCH,
    REQUEST,
    CutStream,
    CutStream2,
    Script,
    Sleeps,
    anthropic,
    anthropic_error_event,
    anthropic_sse,
    ask,
    assert_no_key,
    error_response,
    fake_openai_server,
    local,
    local_client,
    ndjson,
    no_keyring,
    ollama_ndjson,
    openai,
    openai_sse,
    sse_response,
    transcript,
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


async def test_reasoning_models_get_no_temperature_or_stop() -> None:
    script = Script([sse_response(openai_sse(["ok"]))])
    request = CompletionRequest(system="s", prompt="p", max_tokens=50, timeout=5, stop=("END",))
    await openai(script, model="o4-mini").complete(request)
    assert "temperature" not in script.body() and "stop" not in script.body()
    await openai(script, model="gpt-4.1").complete(request)
    assert script.body(1)["stop"] == ["END"] and script.body(1)["temperature"] == 0.0


# ---- local providers (plain httpx) --------------------------------------------------------------


async def test_ollama_ndjson_stream() -> None:
    seen: list[httpx.Request] = []
    client = local_client([ndjson(ollama_ndjson(PATCH, prompt=26, answer=9))], seen)
    provider = LocalLLMProvider("http://127.0.0.1:11434/", "qwen2.5-coder:7b", http_client=client)
    completion = await provider.complete(REQUEST)
    assert completion.text == "".join(PATCH) and completion.finish_reason == "stop"
    assert (completion.input_tokens, completion.output_tokens) == (26, 9)
    assert completion.cost_usd == 0.0 and completion.provider == "ollama"
    assert str(seen[0].url) == "http://127.0.0.1:11434/api/chat"
    body = json.loads(seen[0].content)
    assert body["stream"] is True and body["options"]["num_predict"] == 800
    assert body["messages"][0] == {"role": "system", "content": REQUEST.system}
    await provider.aclose()
    assert not client.is_closed
    await client.aclose()


async def test_ollama_truncated_error_and_retry() -> None:
    length = local([ndjson(ollama_ndjson(["a"], done_reason="length"))])
    completion = await length.complete(REQUEST)
    assert completion.truncated and completion.finish_reason == "length"
    unfinished = local([ndjson(ollama_ndjson(["a", "b"], done_reason=None))])
    completion = await unfinished.complete(REQUEST)
    assert completion.truncated and completion.finish_reason == "error" and completion.text == "ab"
    seen: list[httpx.Request] = []
    missing = local([lambda r: httpx.Response(404, json={"error": "model 'm' not found"})], seen)
    with pytest.raises(ProviderError, match="model 'm' not found") as caught:
        await missing.complete(REQUEST)
    assert not caught.value.retryable and len(seen) == 1
    busy = [lambda r: httpx.Response(503, text="loading model"), ndjson(ollama_ndjson(["ok"]))]
    assert (await local(busy).complete(REQUEST)).attempts == 2


async def test_local_connection_refused_and_cut_stream() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ProviderUnavailable, match="is the server running") as caught:
        await local([refuse], api="openai").complete(REQUEST)
    assert caught.value.attempts == 4
    cut = local(
        [lambda r: httpx.Response(200, stream=CutStream(openai_sse(["def"])[:2]))], api="openai"
    )
    with pytest.raises(ProviderResponseError, match="cut off after 3 characters"):
        await cut.complete(REQUEST)


async def test_local_openai_compatible_sse_with_respx() -> None:
    events = b"".join([b": keep-alive\n\n", *openai_sse(PATCH, usage=(64, 16))])
    whole = {  # a server that ignores stream=true
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }
    sse = httpx.Response(200, content=events, headers={"content-type": "text/event-stream"})
    async with httpx.AsyncClient() as client:
        with respx.mock(assert_all_called=True) as router:
            route = router.post("http://llama.lan:8080/v1/chat/completions")
            route.side_effect = [sse, httpx.Response(200, json=whole)]
            provider = LocalLLMProvider(
                "http://llama.lan:8080/v1", "qwen", api="openai", http_client=client, api_key="lm"
            )
            completion = await provider.complete(REQUEST)
            plain = await provider.complete(REQUEST)
    assert completion.text == "".join(PATCH) and completion.provider == "local"
    assert (completion.input_tokens, completion.output_tokens, completion.cost_usd) == (64, 16, 0.0)
    assert (plain.text, plain.output_tokens, plain.truncated) == ("hi", 1, False)
    sent = route.calls[0].request
    assert sent.headers["authorization"] == "Bearer lm"
    assert json.loads(sent.content)["max_tokens"] == 800


async def test_fake_server_serves_openai_sdk_and_local_provider() -> None:
    async with fake_openai_server() as server:
        sdk = OpenAIProvider(API_KEY, model="local-model", base_url=f"{server.url}/v1")
        local = LocalLLMProvider(server.url, "local-model", api="openai")
        try:
            for provider in (sdk, local):
                completion = await provider.complete(REQUEST)
                assert completion.text == "def fixed():\n    return 42\n"
                assert (completion.input_tokens, completion.output_tokens) == (88, 12)
                assert completion.finish_reason == "stop" and not completion.truncated
            assert sdk.name == "openai" and completion.cost_usd == 0.0
            assert [r["stream"] for r in server.requests] == [True, True]
            assert server.headers[0]["Authorization"] == f"Bearer {API_KEY}"
            server.mode[0] = "cut"
            for provider in (sdk, local):
                with pytest.raises(ProviderResponseError, match="cut off"):
                    await provider.complete(REQUEST)
        finally:
            await sdk.aclose()
            await local.aclose()


# ---- replay and recording -----------------------------------------------------------------------


async def test_replay_match_order_reuse_and_exhaustion(tmp_path: Path) -> None:
    path = transcript(
        tmp_path,
        [
            {"response": "first", "input_tokens": 10, "output_tokens": 2},
            {"match": "parse_rows", "response": "rows fix", "input_tokens": 50, "output_tokens": 7},
            {"response": "second"},
        ],
    )
    replay = ReplayProvider(path)
    assert (replay.name, replay.model, replay.is_replay) == ("replay", "gpt-4o", True)
    fixed = await replay.complete(ask("please fix parse_rows now"))
    assert fixed.text == "rows fix" and fixed.replay and fixed.provider == "replay"
    assert (fixed.input_tokens, fixed.output_tokens, fixed.cost_usd) == (0, 0, 0.0)
    assert not fixed.usage_known  # scripted: no model ran, no tokens to report
    assert (await replay.complete(ask("anything"))).text == "first"
    assert (await replay.complete(ask("parse_rows again"))).text == "rows fix"  # reused
    assert (await replay.complete(ask("anything"))).text == "second"
    assert replay.remaining == 0
    with pytest.raises(ProviderExhausted, match=r"used up.*Settings > LLM provider"):
        await replay.complete(ask("more"))
    assert "scripted answers" in await test_connection(ReplayProvider(path))


def test_replay_rejects_bad_transcripts(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="does not exist"):
        ReplayProvider(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"exchanges": [{"match": "x"}]}')
    with pytest.raises(ProviderError, match="'response'"):
        ReplayProvider(tmp_path / "bad.json")


async def test_recording_provider_makes_a_replayable_transcript(tmp_path: Path) -> None:
    script = Script([sse_response(openai_sse(["one"])), sse_response(openai_sse(["two"]))])
    path = tmp_path / "rec" / "t.json"
    recorder = RecordingProvider(openai(script), path)
    assert (recorder.name, recorder.model, recorder.is_replay) == ("openai", "gpt-4o-mini", False)
    assert (await recorder.complete(ask("a"))).text == "one"
    assert (await recorder.complete(ask("b"))).text == "two"
    await recorder.aclose()
    data = json.loads(path.read_text())
    assert data["provider"] == "openai" and [e["prompt"] for e in data["exchanges"]] == ["a", "b"]
    replay = ReplayProvider(path)
    answers = [(await replay.complete(ask(p))).text for p in ("x", "y")]
    assert answers == ["one", "two"]


# ---- keys and the factory -----------------------------------------------------------------------


def test_key_resolution_from_env_and_keyring() -> None:
    env = {"MY_OPENAI": f"  {API_KEY}\n"}
    assert resolve_api_key("openai", "MY_OPENAI", environ=env, keyring=no_keyring) == API_KEY
    stored = {("chimera", "anthropic"): "sk-ant-from-keyring"}
    key = resolve_api_key("anthropic", environ={}, keyring=lambda s, u: stored.get((s, u)))
    assert key == "sk-ant-from-keyring"
    assert resolve_api_key("local", "LOCAL_KEY", required=False, environ={}, keyring=None) is None


def test_missing_key_message_says_what_to_set() -> None:
    with pytest.raises(ProviderAuthError) as caught:
        build_provider("anthropic", environ={}, keyring=no_keyring)
    message = str(caught.value)
    assert "ANTHROPIC_API_KEY" in message and "service 'chimera', username 'anthropic'" in message
    with pytest.raises(ProviderAuthError, match="CUSTOM_ENV"):
        build_provider(
            "openai", api_key_env="CUSTOM_ENV", environ={"OPENAI_API_KEY": "x"}, keyring=no_keyring
        )


def test_keyring_lookup_uses_a_real_backend_only(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = pytest.importorskip("keyring")

    class Backend:
        priority = 1.0

    monkeypatch.setattr(keyring, "get_keyring", lambda: Backend())
    monkeypatch.setattr(keyring, "get_password", lambda s, u: f"{s}/{u}")
    assert factory.keyring_get("chimera", "openai") == "chimera/openai"
    Backend.priority = 0  # the "fail" backend: no keyring on this machine
    assert factory.keyring_get("chimera", "openai") is None


async def test_build_provider_kinds(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": API_KEY, "ANTHROPIC_API_KEY": API_KEY}
    made = [
        build_provider("openai", environ=env, keyring=no_keyring, http_client=httpx2.AsyncClient()),
        build_provider("anthropic", model="claude-haiku-4-5", environ=env, keyring=no_keyring),
        build_provider("ollama", model="qwen2.5-coder:7b"),
        build_provider(
            "local", model="q", base_url="http://127.0.0.1:80", record_to=tmp_path / "r"
        ),
        build_provider("replay", transcript=transcript(tmp_path, [])),
    ]
    assert [(p.name, p.model, p.is_replay) for p in made] == [
        ("openai", "gpt-4o-mini", False),
        ("anthropic", "claude-haiku-4-5", False),
        ("ollama", "qwen2.5-coder:7b", False),
        ("local", "q", False),
        ("replay", "gpt-4o", True),
    ]
    assert isinstance(made[3], RecordingProvider)
    made.append(build_provider("openai-compatible", model="q"))
    assert made[-1].name == "local"
    for provider in made:
        await provider.aclose()
    with pytest.raises(ConfigError, match="unknown codegen provider"):
        build_provider("gpt")
    with pytest.raises(ConfigError, match="model name"):
        build_provider("ollama")
    with pytest.raises(TypeError, match="httpx2"):
        build_provider("openai", environ=env, http_client=httpx.AsyncClient())


async def test_test_connection_describes_the_answer() -> None:
    script = Script([sse_response(openai_sse(["ok"], usage=(19, 2)))])
    message = await test_connection(openai(script))
    assert message.startswith("openai gpt-4o-mini answered 'ok' in ")
    assert "19 in, 2 out tokens, $0.000004" in message
    assert script.body()["max_completion_tokens"] == 16


# ---- retry policy and pricing -------------------------------------------------------------------


async def test_total_timeout_stops_retrying() -> None:
    now = [0.0]

    async def sleep(delay: float) -> None:
        now[0] += delay

    policy = RetryPolicy(
        max_attempts=10,
        base_delay=4,
        max_delay=8,
        total_timeout=10,
        sleep=sleep,
        clock=lambda: now[0],
        rand=lambda: 1.0,
    )
    script = Script([error_response(500, {"error": {"message": "down"}})])
    provider = OpenAIProvider(API_KEY, http_client=script.client(), retry=policy)
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.complete(REQUEST)
    assert caught.value.attempts == 2 and now[0] == 4.0  # 4 s, then 8 s more would pass 10 s


def test_pricing_facts() -> None:
    assert cost_usd("gpt-4o", 1_000_000, 0) == 2.5
    assert cost_usd("claude-3-5-haiku-20241022", 0, 1_000_000) == 4.0
    assert cost_usd("some-unknown-model", 1, 1) is None
    with pytest.raises(ValueError, match="max_tokens"):
        CompletionRequest(system="s", prompt="p", max_tokens=0, timeout=1)
