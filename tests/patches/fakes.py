"""Realistic wire formats and fake servers for the provider tests. No network beyond loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
from aiohttp import web

from chimera_engine.patches.providers import (
    AnthropicProvider,
    CompletionRequest,
    LocalLLMProvider,
    OpenAIProvider,
    RetryPolicy,
)

API_KEY = "sk-test-SECRETSECRET0123456789"


# ---- OpenAI chat completions (SSE) -------------------------------------------------------------


def openai_chunk(
    content: str | None = None,
    *,
    finish: str | None = None,
    role: bool = False,
    usage: dict[str, Any] | None = None,
    choices: bool = True,
    model: str = "gpt-4o-mini-2024-07-18",
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` as the API sends it with include_usage on."""
    delta: dict[str, Any] = {}
    if role:
        delta = {"role": "assistant", "content": "", "refusal": None}
    if content is not None:
        delta["content"] = content
    chunk: dict[str, Any] = {
        "id": "chatcmpl-AbC123",
        "object": "chat.completion.chunk",
        "created": 1_733_000_000,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_0ba0d124f1",
        "choices": [],
        "usage": usage,
    }
    if choices:
        chunk["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return chunk


def openai_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def openai_sse(
    pieces: Iterable[str],
    *,
    finish: str | None = "stop",
    usage: tuple[int, int] | None = (120, 42),
    done: bool = True,
) -> list[bytes]:
    """The SSE events of a streamed answer, one bytes object per event."""
    chunks = [openai_chunk(role=True)] + [openai_chunk(piece) for piece in pieces]
    if finish is not None:
        chunks.append(openai_chunk(finish=finish))
    if usage is not None:
        chunks.append(openai_chunk(choices=False, usage=openai_usage(*usage)))
    events = [b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks]
    if done:
        events.append(b"data: [DONE]\n\n")
    return events


# ---- Anthropic messages (SSE with event names) --------------------------------------------------


def anthropic_event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def anthropic_sse(
    pieces: Iterable[str],
    *,
    stop_reason: str | None = "end_turn",
    input_tokens: int = 310,
    output_tokens: int = 57,
    stop: bool = True,
) -> list[bytes]:
    """message_start, text deltas, message_delta (usage + stop_reason), message_stop."""
    message: dict[str, Any] = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
            "service_tier": "standard",
        },
    }
    events = [
        anthropic_event("message_start", {"type": "message_start", "message": message}),
        anthropic_event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        anthropic_event("ping", {"type": "ping"}),
    ]
    for piece in pieces:
        delta = {"type": "text_delta", "text": piece}
        events.append(
            anthropic_event(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        )
    events.append(anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    if stop_reason is not None:
        events.append(
            anthropic_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            )
        )
    if stop:
        events.append(anthropic_event("message_stop", {"type": "message_stop"}))
    return events


def anthropic_error_event(kind: str, message: str) -> bytes:
    return anthropic_event("error", {"type": "error", "error": {"type": kind, "message": message}})


# ---- Ollama /api/chat (NDJSON) ------------------------------------------------------------------


def ollama_ndjson(
    pieces: Iterable[str], *, done_reason: str | None = "stop", prompt: int = 26, answer: int = 9
) -> list[bytes]:
    lines = [
        {
            "model": "qwen2.5-coder:7b",
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": piece},
            "done": False,
        }
        for piece in pieces
    ]
    if done_reason is not None:
        lines.append(
            {
                "model": "qwen2.5-coder:7b",
                "created_at": "2025-01-01T00:00:01Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": done_reason,
                "total_duration": 4_883_583_458,
                "load_duration": 1_334_875,
                "prompt_eval_count": prompt,
                "prompt_eval_duration": 342_546_000,
                "eval_count": answer,
                "eval_duration": 4_535_599_000,
            }
        )
    return [json.dumps(line).encode() + b"\n" for line in lines]


# ---- byte streams that end badly ----------------------------------------------------------------


class CutStream2(httpx2.AsyncByteStream):
    """An httpx2 body that yields ``parts`` and then loses the connection."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete body")


class CutStream(httpx.AsyncByteStream):
    """The same for plain httpx (the local provider)."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


# ---- scripted handlers, sleeps -----------------------------------------------------------------

Responder = Callable[[httpx2.Request], httpx2.Response]


@dataclass
class Script:
    """An httpx2 handler answering with ``responders`` in turn (the last one repeats)."""

    responders: list[Responder]
    requests: list[httpx2.Request] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        index = min(len(self.requests), len(self.responders)) - 1
        return self.responders[index](request)

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self))

    def body(self, index: int = 0) -> dict[str, Any]:
        return dict(json.loads(self.requests[index].content))


def sse_response(events: list[bytes], status: int = 200) -> Responder:
    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(
            status, headers={"content-type": "text/event-stream"}, content=b"".join(events)
        )

    return respond


def error_response(status: int, body: dict[str, Any], **headers: str) -> Responder:
    def respond(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json=body, headers=headers)

    return respond


@dataclass
class Sleeps:
    """A sleep that returns at once and remembers what it was asked to wait."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)

    def policy(self, **kwargs: Any) -> RetryPolicy:
        return RetryPolicy(sleep=self, rand=lambda: 1.0, **kwargs)


# ---- a local OpenAI-compatible server (aiohttp on 127.0.0.1, port 0) ----------------------------


@dataclass
class FakeServer:
    url: str
    requests: list[dict[str, Any]]
    headers: list[dict[str, str]]
    mode: list[str]  # "ok" or "cut": how the next answers end


SERVER = web.AppKey("server", FakeServer)


async def _chat(request: web.Request) -> web.StreamResponse:
    server = request.app[SERVER]
    server.requests.append(await request.json())
    server.headers.append(dict(request.headers))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    events = openai_sse(["def fixed():\n", "    return 42\n"], usage=(88, 12))
    if server.mode[0] == "cut":
        for event in events[:2]:
            await response.write(event)
        await asyncio.sleep(0.01)
        assert request.transport is not None
        request.transport.close()  # no terminating chunk: the client sees a cut body
        return response
    for event in events:
        await response.write(event)
        await asyncio.sleep(0)
    await response.write_eof()
    return response


@asynccontextmanager
async def fake_openai_server() -> AsyncIterator[FakeServer]:
    """An aiohttp server implementing streaming POST /v1/chat/completions on loopback."""
    app = web.Application()
    server = FakeServer(url="", requests=[], headers=[], mode=["ok"])
    app[SERVER] = server
    app.router.add_post("/v1/chat/completions", _chat)
    async with serve_loopback(app) as server.url:
        yield server


@asynccontextmanager
async def serve_loopback(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on an ephemeral loopback port; yields its ``http://host:port``."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def stream_events(request: web.Request, events: Iterable[bytes]) -> web.StreamResponse:
    """Answer ``request`` with ``events`` as a complete server-sent event stream."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for event in events:
        await response.write(event)
    await response.write_eof()
    return response


# ---- shared test inputs and builders ------------------------------------------------------------

PATCH = ["```diff\n", "--- a/tools/etl.py\n+++ b/tools/etl.py\n", "@@ -1 +1 @@\n", "-x\n+y\n```"]
REQUEST = CompletionRequest(
    system="You fix Python tools.",
    prompt="Fix parse_rows in tools/etl.py",
    max_tokens=800,
    timeout=5.0,
)


def openai(script: Script, sleeps: Sleeps | None = None, **kwargs: Any) -> OpenAIProvider:
    return OpenAIProvider(
        API_KEY, http_client=script.client(), retry=(sleeps or Sleeps()).policy(), **kwargs
    )


def anthropic(script: Script, sleeps: Sleeps | None = None, **kwargs: Any) -> AnthropicProvider:
    return AnthropicProvider(
        API_KEY, http_client=script.client(), retry=(sleeps or Sleeps()).policy(), **kwargs
    )


def assert_no_key(err: BaseException) -> None:
    text = f"{err} {err!r}"
    assert API_KEY not in text
    assert "SECRETSECRET" not in text


LocalResponder = Callable[[httpx.Request], httpx.Response]


def local_client(responders: list[LocalResponder], seen: list[httpx.Request]) -> httpx.AsyncClient:
    """An httpx client answering with ``responders`` in turn (the last repeats)."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responders[min(len(seen), len(responders)) - 1](request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def local(
    responders: list[LocalResponder], seen: list[httpx.Request] | None = None, **kwargs: Any
) -> LocalLLMProvider:
    """A LocalLLMProvider ("ollama" unless ``api=`` says otherwise) on a mock transport."""
    client = local_client(responders, [] if seen is None else seen)
    kwargs.setdefault("retry", Sleeps().policy())
    return LocalLLMProvider("http://127.0.0.1:11434", "m", http_client=client, **kwargs)


def ndjson(lines: list[bytes], status: int = 200) -> LocalResponder:
    return lambda request: httpx.Response(
        status, headers={"content-type": "application/x-ndjson"}, content=b"".join(lines)
    )


def transcript(tmp_path: Path, exchanges: list[dict[str, Any]]) -> Path:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"provider": "openai", "model": "gpt-4o", "exchanges": exchanges}))
    return path


def ask(prompt: str) -> CompletionRequest:
    return CompletionRequest(system="s", prompt=prompt, max_tokens=10, timeout=1)


def no_keyring(service: str, username: str) -> str | None:
    return None
