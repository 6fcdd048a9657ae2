"""What the SDK-backed providers (OpenAI, Anthropic) share.

Each builds its SDK's async client with the SDK's retries off, asks through
:func:`ask_with_retry`, maps the SDK's exceptions onto :class:`ProviderError`
(never chaining an auth error, whose text may quote the key) and prices the
answer from its reported usage. A subclass names its SDK's client and
exception classes and says how to send a request and read the stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import httpx2

from chimera_engine.patches.providers.base import (
    Completion,
    CompletionRequest,
    ProviderAuthError,
    ProviderError,
    stream_cut,
)
from chimera_engine.patches.providers.pricing import cost_usd
from chimera_engine.patches.providers.retry import RetryPolicy, ask_with_retry


class SDKProvider(ABC):
    """A provider on an official SDK client. ``http_client`` is used as given and
    never closed by :meth:`aclose`; without one the SDK's own client is closed there."""

    name: str
    is_replay: bool = False
    #: "an {vendor} API key is required"
    vendor: ClassVar[str]
    #: the model asked when none is given
    default_model: ClassVar[str]
    #: the SDK's async client class (``openai.AsyncOpenAI``, ``anthropic.AsyncAnthropic``)
    client_class: ClassVar[Any]
    #: the SDK's base exception, its timeout and connection errors, and the
    #: auth errors whose text may quote the key (never chained)
    sdk_error: ClassVar[type[Exception]]
    timeout_errors: ClassVar[tuple[type[Exception], ...]]
    connection_errors: ClassVar[tuple[type[Exception], ...]]
    secret_errors: ClassVar[tuple[type[Exception], ...]]

    def __init__(
        self,
        api_key: str,
        model: str | None = None,
        base_url: str | None = None,
        http_client: httpx2.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not api_key:
            raise ProviderAuthError(f"an {self.vendor} API key is required", provider=self.name)
        self.model = self.default_model if model is None else model
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._owns_client = http_client is None
        self._client = self.client_class(
            api_key=api_key, base_url=base_url, http_client=http_client, max_retries=0
        )

    def __repr__(self) -> str:
        base_url = str(self._client.base_url)
        return f"{type(self).__name__}(model={self.model!r}, base_url={base_url!r})"

    async def complete(self, request: CompletionRequest) -> Completion:
        """Ask once, retrying 429/5xx/overload/timeouts per ``self.retry``; see the module doc."""
        return await ask_with_retry(self._attempt, request, self.retry, self.name)

    async def aclose(self) -> None:
        """Close the SDK's own HTTP client (an injected one is left open)."""
        if self._owns_client:
            await self._client.close()

    @abstractmethod
    async def _attempt(self, request: CompletionRequest) -> Completion:
        """Send ``request`` once through the SDK and read its stream into a completion."""

    @abstractmethod
    def _map_error(self, err: Exception, *, mid_stream: bool = False) -> ProviderError:
        """The provider error for an SDK exception (``mid_stream``: the answer was cut)."""

    @abstractmethod
    def _malformed(self, err: ValueError) -> ProviderError:
        """The error for a stream event that is not JSON or not the API's shape."""

    def _cause(self, err: Exception) -> BaseException | None:
        """Chain to the SDK error, except for auth errors, whose text may quote the key."""
        return None if isinstance(err, self.secret_errors) else err

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """Map an SDK error raised while the request is sent."""
        try:
            yield
        except self.sdk_error as err:
            raise self._map_error(err) from self._cause(err)

    @contextmanager
    def _reading(self, parts: list[str]) -> Iterator[None]:
        """Map a failure while the stream is read; ``parts`` is the text received so far."""
        try:
            yield
        except self.timeout_errors as err:
            raise stream_cut(self.name, len("".join(parts)), timed_out=True) from err
        except self.connection_errors as err:
            raise stream_cut(self.name, len("".join(parts)), timed_out=False) from err
        except self.sdk_error as err:
            raise self._map_error(err, mid_stream=True) from self._cause(err)
        except ValueError as err:  # includes json.JSONDecodeError
            raise self._malformed(err) from err

    def _completion(
        self,
        parts: list[str],
        *,
        input_tokens: int,
        output_tokens: int,
        usage_known: bool,
        finish: str,
        truncated: bool,
    ) -> Completion:
        """The answer, priced from its usage (``None`` when the usage is unknown)."""
        return Completion(
            text="".join(parts),
            provider=self.name,
            model=self.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=cost_usd(self.model, input_tokens, output_tokens) if usage_known else None,
            latency_s=0.0,
            finish_reason=finish,
            truncated=truncated,
            usage_known=usage_known,
        )
