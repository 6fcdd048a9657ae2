"""OpenAI chat completions through the official SDK, streamed.

Uses ``openai.AsyncOpenAI`` (built on ``httpx2``; respx does not see it: tests
inject ``httpx2.AsyncClient(transport=httpx2.MockTransport(...))`` or point
``base_url`` at a local server). The SDK's own retries are off; this module's
:class:`RetryPolicy` is the one policy. The answer is streamed with
``stream_options={"include_usage": True}`` so token usage arrives in the last
chunk; a stream that ends without a ``finish_reason`` (or with ``"length"``)
is returned with ``truncated=True``; a connection cut mid-stream raises
:class:`ProviderResponseError`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import httpx2
import openai
from openai.types import CompletionUsage

from chimera_engine.patches.providers.base import (
    FINISH_ERROR,
    FINISH_STOP,
    HTML_TYPES,
    Completion,
    CompletionRequest,
    ProviderError,
    ProviderNotAPI,
    ProviderTimeout,
    media_type,
    reported_error,
    short,
    status_error,
    unreachable,
)
from chimera_engine.patches.providers.retry import parse_retry_after
from chimera_engine.patches.providers.sdk import SDKProvider

#: Model families that take no temperature and no stop sequences (reasoning models).
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5", "gpt-6")


class OpenAIProvider(SDKProvider):
    """OpenAI (or an OpenAI-compatible endpoint via ``base_url``) chat completions.

    ``http_client`` is used as given and is never closed by :meth:`aclose`;
    without one the SDK opens its own, which ``aclose`` closes. ``base_url``
    includes the API version path, e.g. ``http://127.0.0.1:8080/v1``.
    Requests to OpenAI itself send ``max_completion_tokens``; to any other
    ``base_url`` (an OpenAI-compatible server) they send ``max_tokens``,
    which those servers read and the newer name they ignore. For reasoning models (o1/o3/o4,
    gpt-5 and later) temperature and stop sequences are left out, which they
    reject, and ``max_tokens`` must leave room for hidden reasoning tokens or
    the answer comes back empty and truncated. For llama.cpp/vLLM/LM Studio
    prefer :class:`LocalLLMProvider` (``api="openai"``), which sends ``max_tokens``.
    """

    name: str = "openai"
    vendor = "OpenAI"
    default_model = "gpt-4o-mini"
    client_class = openai.AsyncOpenAI
    sdk_error = openai.OpenAIError
    timeout_errors = (openai.APITimeoutError,)
    connection_errors = (openai.APIConnectionError, httpx2.TransportError)
    secret_errors = (openai.AuthenticationError, openai.PermissionDeniedError)

    @cached_property
    def token_param(self) -> str:
        """The name of the output limit in requests (see the class doc)."""
        host = self._client.base_url.host
        return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"

    def _params(self, request: CompletionRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": request.system},
                {"role": "user", "content": request.prompt},
            ],
            self.token_param: request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "timeout": request.timeout,
        }
        if not self.model.lower().startswith(_REASONING_PREFIXES):
            params["temperature"] = request.temperature
            if request.stop:
                params["stop"] = list(request.stop)
        return params

    async def _attempt(self, request: CompletionRequest) -> Completion:
        with self._sending():
            stream = await self._client.chat.completions.create(**self._params(request))
        try:
            _check_shape(stream.response, self.name)
        except ProviderNotAPI:
            await stream.close()
            raise
        parts: list[str] = []
        finish: str | None = None
        usage: CompletionUsage | None = None
        chunks = 0
        chars = 0
        with self._reading(parts):
            async with stream:
                async for chunk in stream:
                    chunks += 1
                    if chunk.usage is not None:
                        usage = chunk.usage
                    for choice in chunk.choices or ():
                        if choice.delta is not None and choice.delta.content:
                            parts.append(choice.delta.content)
                            chars += len(choice.delta.content)
                            if request.progress is not None:
                                request.progress(chars, len(parts))
                        if choice.finish_reason is not None:
                            finish = choice.finish_reason
        if chunks == 0:
            raise ProviderNotAPI(
                f"{self.name} at {self._client.base_url} sent no chat completion events: "
                "it is not an OpenAI-compatible API (check base_url and the provider kind)",
                provider=self.name,
            )
        return self._completion(
            parts,
            input_tokens=usage.prompt_tokens if usage is not None else 0,
            output_tokens=usage.completion_tokens if usage is not None else 0,
            usage_known=usage is not None,
            finish=finish or FINISH_ERROR,
            truncated=finish not in (FINISH_STOP, "tool_calls"),
        )

    def _map_error(self, err: Exception, *, mid_stream: bool = False) -> ProviderError:
        """The ProviderError for an SDK exception; its message never holds the key."""
        if isinstance(err, openai.APITimeoutError):
            return ProviderTimeout(f"openai timed out: {err}", provider=self.name)
        if isinstance(err, openai.APIConnectionError):
            cause = err.__cause__ or err
            return unreachable(self.name, self._client.base_url, cause, self._api_key)
        if isinstance(err, openai.APIStatusError):
            return status_error(
                self.name,
                err.status_code,
                _detail(err),
                retry_after=parse_retry_after(dict(err.response.headers)),
                secret=self._api_key,
            )
        return reported_error(self.name, err, self._api_key, mid_stream=mid_stream)

    def _malformed(self, err: ValueError) -> ProviderError:
        return ProviderNotAPI(
            f"{self.name} at {self._client.base_url} sent malformed JSON in its stream "
            f"({short(str(err), 120)}): is this an OpenAI-compatible API?",
            provider=self.name,
        )


def _check_shape(response: httpx2.Response, provider: str) -> None:
    """Refuse an answer that is plainly not an event stream (an HTML page, a JSON document)."""
    if media_type(response.headers) in HTML_TYPES:
        raise ProviderNotAPI(
            f"{provider} at {response.url} answered with an HTML page, not an API: "
            "check base_url (it should end in /v1 for an OpenAI-compatible server)",
            provider=provider,
        )


def _detail(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return err.message
