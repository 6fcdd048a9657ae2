"""Anthropic Messages API through the official SDK, streamed.

Uses ``anthropic.AsyncAnthropic`` (built on ``httpx2``; inject
``httpx2.AsyncClient(transport=httpx2.MockTransport(...))`` in tests) with the
SDK's retries off. Input tokens come from ``message_start``, output tokens
from the cumulative ``message_delta`` usage. ``stop_reason == "max_tokens"``
or a stream without ``message_stop`` gives ``truncated=True``; a connection
cut mid-stream raises :class:`ProviderResponseError`; an ``error`` event
mid-stream (``overloaded_error``, ``rate_limit_error``) is retried like the
matching HTTP status.
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2

from chimera_engine.patches.providers.base import (
    FINISH_ERROR,
    FINISH_LENGTH,
    FINISH_STOP,
    Completion,
    CompletionRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderTimeout,
    ProviderUnavailable,
    redact,
    reported_error,
    short,
    status_error,
    unreachable,
)
from chimera_engine.patches.providers.retry import parse_retry_after
from chimera_engine.patches.providers.sdk import SDKProvider

DEFAULT_MODEL = "claude-sonnet-5-5"  #: the current Sonnet (claude-sonnet-4-5 is deprecated)

_FINISH = {
    "end_turn": FINISH_STOP,
    "stop_sequence": FINISH_STOP,
    "max_tokens": FINISH_LENGTH,
    "model_context_window_exceeded": FINISH_LENGTH,
}


class AnthropicProvider(SDKProvider):
    """Claude via the Messages API. ``http_client`` is used as given and never
    closed by :meth:`aclose`; without one the SDK's own client is closed there.
    ``request.temperature`` is not sent: SDK 2.x has no such parameter and
    current models refuse non-default sampling settings (HTTP 400).
    """

    name: str = "anthropic"
    vendor = "Anthropic"
    default_model = DEFAULT_MODEL
    client_class = anthropic.AsyncAnthropic
    sdk_error = anthropic.AnthropicError
    timeout_errors = (anthropic.APITimeoutError, httpx2.TimeoutException)
    connection_errors = (anthropic.APIConnectionError, httpx2.TransportError)
    secret_errors = (anthropic.AuthenticationError, anthropic.PermissionDeniedError)

    def _params(self, request: CompletionRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "system": request.system,
            "messages": [{"role": "user", "content": request.prompt}],
            "stream": True,
            "timeout": request.timeout,
        }
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        return params

    async def _attempt(self, request: CompletionRequest) -> Completion:
        with self._sending():
            stream = await self._client.messages.create(**self._params(request))
        parts: list[str] = []
        input_tokens = output_tokens = 0
        usage_known = False
        stop_reason: str | None = None
        stopped = False
        chars = 0
        with self._reading(parts):
            async with stream:
                async for event in stream:
                    if event.type == "message_start":
                        usage_known = True
                        input_tokens = event.message.usage.input_tokens or 0
                        output_tokens = event.message.usage.output_tokens or 0
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        parts.append(event.delta.text)
                        chars += len(event.delta.text)
                        if request.progress is not None:
                            request.progress(chars, len(parts))
                    elif event.type == "message_delta":
                        usage_known = True
                        stop_reason = event.delta.stop_reason or stop_reason
                        output_tokens = event.usage.output_tokens or output_tokens
                        input_tokens = event.usage.input_tokens or input_tokens
                    elif event.type == "message_stop":
                        stopped = True
        finish = _FINISH.get(stop_reason, stop_reason) if stop_reason else FINISH_ERROR
        if not stopped and finish == FINISH_STOP:
            finish = FINISH_ERROR
        return self._completion(
            parts,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            usage_known=usage_known,
            finish=finish,
            truncated=finish != FINISH_STOP or not stopped,
        )

    def _map_error(self, err: Exception, *, mid_stream: bool = False) -> ProviderError:
        """The ProviderError for an SDK exception; its message never holds the key."""
        if isinstance(err, anthropic.APITimeoutError):
            return ProviderTimeout("anthropic timed out", provider=self.name)
        if isinstance(err, anthropic.APIConnectionError):
            cause = err.__cause__ or err
            return unreachable(self.name, self._client.base_url, cause, self._api_key)
        if isinstance(err, anthropic.APIStatusError):
            detail = err.api_message or err.message
            retry_after = parse_retry_after(dict(err.response.headers))
            if err.status_code < 400:  # an ``error`` event inside a 200 stream
                return _stream_error(err.type, redact(detail, self._api_key))
            return status_error(
                self.name, err.status_code, detail, retry_after=retry_after, secret=self._api_key
            )
        return reported_error(self.name, err, self._api_key, mid_stream=mid_stream)

    def _malformed(self, err: ValueError) -> ProviderError:
        return ProviderResponseError(
            f"anthropic sent a malformed stream event: {short(str(err), 120)}",
            provider=self.name,
        )


def _stream_error(kind: str | None, detail: str) -> ProviderError:
    message = f"anthropic failed mid-answer ({kind or 'error'}): {short(detail)}"
    if kind == "rate_limit_error":
        return ProviderRateLimited(message, provider="anthropic")
    if kind in ("overloaded_error", "api_error"):
        return ProviderUnavailable(message, provider="anthropic")
    return ProviderResponseError(message, provider="anthropic")
