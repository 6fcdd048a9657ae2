"""Local model servers (Ollama, OpenAI-compatible), recorded and replayed transcripts,
key resolution, provider construction and the connection test."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import httpx2
import pytest
import respx

from chimera_engine.errors import ConfigError
from chimera_engine.patches.providers import (
    CompletionRequest,
    LocalLLMProvider,
    OpenAIProvider,
    ProviderAuthError,
    ProviderError,
    ProviderExhausted,
    ProviderResponseError,
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
    Script,
    ask,
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
