"""Local LLM servers over plain httpx: Ollama, or any OpenAI-compatible server.

``api="ollama"`` streams ``POST {base_url}/api/chat`` as NDJSON (one JSON
object a line; the last has ``done: true``, ``done_reason``,
``prompt_eval_count`` and ``eval_count``). ``api="openai"`` streams
``POST {base_url}/v1/chat/completions`` as server-sent events, as served by
llama.cpp's server, vLLM and LM Studio. ``base_url`` is the server root
(``http://127.0.0.1:11434``); a trailing ``/v1`` is accepted for ``"openai"``.
A server that ignores ``stream: true`` and answers with one JSON object is
understood too.
Local models cost ``0.0``. Token counts come from the stream's usage (or,
from llama.cpp, its ``timings``); when the server sends neither the
completion says ``usage_known=False``. An answer that is not the configured
API (an HTML page, malformed JSON, a 404 on the API's route) raises
:class:`ProviderNotAPI` naming what was found. :meth:`LocalLLMProvider.context_length`
asks the server for the model's context window. An answer that ends without ``done``/a finish
reason, or with ``"length"``, has ``truncated=True``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Literal, cast

import httpx

from chimera_engine.patches.providers.base import (
    FINISH_ERROR,
    FINISH_STOP,
    HTML_TYPES,
    Completion,
    CompletionRequest,
    ProviderError,
    ProviderNotAPI,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderWrongAPI,
    media_type,
    short,
    status_error,
    stream_cut,
)
from chimera_engine.patches.providers.retry import (
    RetryPolicy,
    ask_with_retry,
    parse_retry_after,
)

LocalAPI = Literal["ollama", "openai"]


class LocalLLMProvider:
    """A model served on this machine or the LAN. ``http_client`` (an
    ``httpx.AsyncClient``) is used as given and never closed by :meth:`aclose`;
    without one the provider opens its own. ``api_key`` is sent as a bearer
    token when given (LM Studio and vLLM may require one). ``name`` is
    ``"ollama"`` or ``"local"``. The provider's own client ignores proxy
    environment variables (local servers are reached directly).
    """

    is_replay: bool = False

    def __init__(
        self,
        base_url: str,
        model: str,
        api: LocalAPI = "ollama",
        http_client: httpx.AsyncClient | None = None,
        api_key: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if api not in ("ollama", "openai"):
            raise ValueError(f"api must be 'ollama' or 'openai', not {api!r}")
        self.name = "ollama" if api == "ollama" else "local"
        self.model = model
        self.api: LocalAPI = api
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(trust_env=False)

    def __repr__(self) -> str:
        return f"LocalLLMProvider({self.base_url!r}, {self.model!r}, api={self.api!r})"

    @property
    def url(self) -> str:
        """The endpoint that is POSTed to."""
        if self.api == "ollama":
            return f"{self.base_url}/api/chat"
        root = self.base_url.removesuffix("/v1")
        return f"{root}/v1/chat/completions"

    async def complete(self, request: CompletionRequest) -> Completion:
        """Ask once, retrying 429/5xx/refused connections/timeouts per ``self.retry``."""
        return await ask_with_retry(self._attempt, request, self.retry, self.name)

    async def aclose(self) -> None:
        """Close the provider's own HTTP client (an injected one is left open)."""
        if self._owns_client:
            await self._client.aclose()

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        messages = [
            {"role": "system", "content": request.system},
            {"role": "user", "content": request.prompt},
        ]
        if self.api == "ollama":
            options: dict[str, Any] = {
                "temperature": request.temperature,
                "num_predict": request.max_tokens,
            }
            if request.stop:
                options["stop"] = list(request.stop)
            return {"model": self.model, "messages": messages, "stream": True, "options": options}
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    async def _attempt(self, request: CompletionRequest) -> Completion:
        state = _State()
        state.progress = request.progress
        try:
            async with self._client.stream(
                "POST",
                self.url,
                json=self._body(request),
                headers=self._headers,
                timeout=request.timeout,
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._check_route(response)
                    raise status_error(
                        self.name,
                        response.status_code,
                        _error_text(response),
                        retry_after=parse_retry_after(response.headers),
                        secret=self._api_key,
                    )
                kind = media_type(response.headers)
                if kind in HTML_TYPES:
                    raise ProviderNotAPI(
                        f"{self.name} at {self.url} answered with an HTML page, not an API: "
                        "check base_url",
                        provider=self.name,
                    )
                if kind == "application/json" and self.api != "ollama":
                    _read_whole(json.loads(await response.aread()), state)  # ignored stream=True
                else:
                    # closed here, on this loop, even when the reader stops at the last message
                    stream = cast(AsyncGenerator[str, None], response.aiter_lines())
                    async with contextlib.aclosing(stream) as lines:
                        read = _read_ndjson if self.api == "ollama" else _read_sse
                        await read(lines, state)
        except httpx.TimeoutException as err:
            raise ProviderTimeout(
                f"{self.name} at {self.base_url} timed out ({state.chars} characters in)",
                provider=self.name,
            ) from err
        except httpx.TransportError as err:
            if state.started:
                raise stream_cut(self.name, state.chars, timed_out=False) from err
            raise ProviderUnavailable(
                f"cannot reach {self.name} at {self.base_url} ({type(err).__name__}): "
                "is the server running?",
                provider=self.name,
            ) from err
        except ValueError as err:  # includes json.JSONDecodeError
            raise ProviderNotAPI(
                f"{self.name} at {self.url} sent malformed JSON ({short(str(err), 120)}): "
                f"is this {_API_NAME[self.api]}?",
                provider=self.name,
            ) from err
        if not state.messages:
            raise ProviderNotAPI(
                f"{self.name} at {self.url} answered without a single chat message: "
                f"it is not {_API_NAME[self.api]}",
                provider=self.name,
            )
        finish = state.finish or FINISH_ERROR
        return Completion(
            text="".join(state.parts),
            provider=self.name,
            model=self.model,
            input_tokens=state.input_tokens,
            output_tokens=state.output_tokens,
            cost_usd=0.0,
            latency_s=0.0,
            finish_reason=finish,
            truncated=finish != FINISH_STOP,
            usage_known=state.usage_known,
        )

    def _check_route(self, response: httpx.Response) -> None:
        """A 404/405 that is not the API's own error means the route is not there."""
        if response.status_code not in (404, 405):
            return
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "model" in json.dumps(body.get("error", "")).lower():
            return  # the API's own error about the model: status_error words it
        other = "openai-compatible" if self.api == "ollama" else "ollama"
        raise ProviderWrongAPI(
            f"{self.name} at {self.base_url} has no {_API_NAME[self.api]} "
            f"(HTTP {response.status_code} on {self.url}): wrong API kind? "
            f"try the provider kind {other!r}, or check base_url",
            provider=self.name,
            status=response.status_code,
        )

    async def context_length(self, timeout: float = 5.0) -> int | None:
        """The model's context window in tokens as the server reports it, else None.

        llama.cpp: ``GET /props`` -> ``default_generation_settings.n_ctx``; vLLM:
        ``GET /v1/models`` -> ``max_model_len``; Ollama: ``POST /api/show`` ->
        ``num_ctx`` of its parameters, else ``model_info.*.context_length``.
        Never raises: an unreachable server or an unknown shape gives None.
        """
        root = self.base_url.removesuffix("/v1")
        try:
            if self.api == "ollama":
                response = await self._client.post(
                    f"{root}/api/show", json={"model": self.model}, timeout=timeout
                )
                return _ollama_context(response.json()) if response.is_success else None
            response = await self._client.get(
                f"{root}/props", headers=self._headers, timeout=timeout
            )
            if response.is_success:
                found = _llamacpp_context(response.json())
                if found:
                    return found
            response = await self._client.get(
                f"{root}/v1/models", headers=self._headers, timeout=timeout
            )
            return _vllm_context(response.json(), self.model) if response.is_success else None
        except (httpx.HTTPError, ValueError):
            return None


_API_NAME = {"ollama": "Ollama's API", "openai": "an OpenAI-compatible API"}


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _llamacpp_context(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    if isinstance(settings, dict) and _positive(settings.get("n_ctx")):
        return _positive(settings.get("n_ctx"))
    return _positive(data.get("n_ctx"))


def _vllm_context(data: Any, model: str) -> int | None:
    models = data.get("data") if isinstance(data, dict) else None
    for entry in models if isinstance(models, list) else ():
        if isinstance(entry, dict) and entry.get("id") == model:
            return _positive(entry.get("max_model_len"))
    return None


def _ollama_context(data: Any) -> int | None:
    if not isinstance(data, dict):
        return None
    for line in str(data.get("parameters") or "").splitlines():
        name, _, value = line.strip().partition(" ")
        if name == "num_ctx" and value.strip().isdigit():
            return _positive(int(value.strip()))
    info = data.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if key.endswith(".context_length") and _positive(value):
                return _positive(value)
    return None


class _State:
    """What has been read from a stream so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.chars = 0
        self.started = False
        self.finish: str | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.usage_known = False
        self.messages = 0
        self.progress: Callable[[int, int], None] | None = None

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.chars += len(text)
        if self.progress is not None:
            self.progress(self.chars, len(self.parts))


async def _read_ndjson(lines: AsyncIterator[str], state: _State) -> None:
    async for line in lines:
        state.started = True
        if not line.strip():
            continue
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {short(line, 80)}")
        if "error" in data:
            raise ProviderError(f"ollama reported: {short(str(data['error']))}", provider="ollama")
        if "message" not in data and "done" not in data:
            raise ValueError(f"not an Ollama chat message: {short(line, 80)}")
        state.messages += 1
        content = (data.get("message") or {}).get("content")
        if content:
            state.add(content)
        if data.get("done"):
            state.finish = data.get("done_reason") or FINISH_STOP
            if "prompt_eval_count" in data or "eval_count" in data:
                state.usage_known = True
                state.input_tokens = int(data.get("prompt_eval_count") or 0)
                state.output_tokens = int(data.get("eval_count") or 0)
            return


async def _read_sse(lines: AsyncIterator[str], state: _State) -> None:
    async for line in lines:
        state.started = True
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event:/id: fields
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        data = json.loads(payload)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {short(payload, 80)}")
        if data.get("error"):
            raise ProviderResponseError(
                f"the server reported mid-answer: {short(str(data['error']))}", provider="local"
            )
        _read_chunk(data, state, "delta")


def _read_whole(data: Any, state: _State) -> None:
    """A server that ignored ``stream: true`` and sent one chat.completion object."""
    if not isinstance(data, dict):
        raise ValueError("expected a chat.completion JSON object")
    state.started = True
    _read_chunk(data, state, "message")


def _read_chunk(data: dict[str, Any], state: _State, key: str) -> None:
    if "choices" not in data and "usage" not in data:
        raise ValueError(f"not a chat completion chunk: {short(json.dumps(data), 80)}")
    state.messages += 1
    usage = data.get("usage")
    timings = data.get("timings")  # llama.cpp, also when it sends no usage
    if isinstance(usage, dict):
        state.usage_known = True
        state.input_tokens = int(usage.get("prompt_tokens") or 0)
        state.output_tokens = int(usage.get("completion_tokens") or 0)
    elif isinstance(timings, dict) and "prompt_n" in timings:
        state.usage_known = True
        state.input_tokens = int(timings.get("prompt_n") or 0)
        state.output_tokens = int(timings.get("predicted_n") or 0)
    for choice in data.get("choices") or ():
        content = (choice.get(key) or {}).get("content")
        if content:
            state.add(content)
        if choice.get("finish_reason"):
            state.finish = choice["finish_reason"]


def _error_text(response: httpx.Response) -> str:
    """The message in an error body ({"error": "..."} or {"error": {"message": ...}})."""
    try:
        data = response.json()
    except ValueError:
        return response.text or response.reason_phrase
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(error)
