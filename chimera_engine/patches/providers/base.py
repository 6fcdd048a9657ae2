"""The provider protocol: one request in, one finished completion out, typed errors.

Every LLM backend (OpenAI, Anthropic, Ollama/OpenAI-compatible servers, a
file of scripted answers) implements :class:`Provider`. ``complete`` streams where
the backend streams, so a cut or unfinished answer is *detected*: it comes
back with ``truncated=True`` (never silently as a complete answer) or raises
:class:`ProviderResponseError`. A caller must not apply a truncated answer.

Errors are :class:`ProviderError` subclasses whose messages are fit for an
operator and never contain an API key (:func:`redact` scrubs them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from chimera_engine.errors import ChimeraError

#: Normalised finish reasons; providers map their own vocabulary onto these.
FINISH_STOP = "stop"  #: the model ended its answer (or hit a stop sequence)
FINISH_LENGTH = "length"  #: the max_tokens limit cut the answer: truncated
FINISH_ERROR = "error"  #: the stream ended without saying why: truncated

_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")  # OpenAI and Anthropic keys


@dataclass(frozen=True, kw_only=True)
class CompletionRequest:
    """What to ask: a system prompt, a user prompt and the limits of one call.

    ``max_tokens`` bounds the *answer*; ``timeout`` (seconds) bounds one
    attempt from sending the request to the last streamed token; ``stop``
    sequences end the answer early where the backend supports them.
    ``progress``, when given, is called on the event loop with the number of
    characters and of streamed pieces (about one token each) received so far;
    it must return at once.
    """

    system: str
    prompt: str
    max_tokens: int
    temperature: float = 0.0
    timeout: float
    stop: tuple[str, ...] = ()
    progress: Callable[[int, int], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, not {self.max_tokens}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be within 0..2, not {self.temperature}")


@dataclass(frozen=True, kw_only=True)
class Completion:
    """A finished answer and what it cost.

    ``input_tokens``/``output_tokens`` are what the backend reported;
    ``usage_known`` is false when it reported nothing (the counts are then 0
    and must be shown as unknown, never as 0); ``cost_usd`` is ``None`` when
    the price of the model or its usage is unknown, ``0.0`` for local models
    and scripted answers. ``latency_s`` is the wall time of the whole call,
    retries and back-off included;
    ``attempts`` counts the HTTP attempts it took. ``finish_reason`` is
    ``"stop"``, ``"length"`` or ``"error"`` (or another backend reason such as
    ``"content_filter"``); ``truncated`` is true whenever the answer did not
    end normally, and such an answer must not be applied. ``replay`` marks a
    scripted answer (written by hand, no model ran), which every UI must label.
    """

    text: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_s: float
    finish_reason: str
    truncated: bool
    replay: bool = False
    attempts: int = 1
    usage_known: bool = True


class Provider(Protocol):
    """An LLM backend. Instances are used from one event loop; ``complete`` may
    run concurrently. Call ``aclose`` once when done (it never closes an HTTP
    client that was injected by the caller)."""

    name: str
    model: str
    is_replay: bool

    async def complete(self, request: CompletionRequest) -> Completion:
        """Ask for one answer, retrying transient failures; raise ProviderError."""
        ...

    async def aclose(self) -> None:
        """Release connections the provider opened itself."""
        ...


class ProviderError(ChimeraError):
    """A provider could not answer. ``retryable`` says whether trying again may help;
    ``attempts`` is how many attempts were made before this error was raised."""

    code = "provider_error"
    retryable = False

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.attempts = 1


class ProviderTimeout(ProviderError):
    """An attempt did not finish within the request's timeout."""

    code = "provider_timeout"
    retryable = True


class ProviderRateLimited(ProviderError):
    """HTTP 429 (or an overload refusal); ``retry_after`` is the server's hint in seconds."""

    code = "provider_rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        provider: str = "",
        status: int | None = 429,
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """HTTP 5xx, or the server could not be reached."""

    code = "provider_unavailable"
    retryable = True


class ProviderAuthError(ProviderError):
    """The API key is missing or was refused (HTTP 401/403). Never retried."""

    code = "provider_auth"


class ProviderResponseError(ProviderError):
    """The answer was malformed, or the stream was cut off in the middle."""

    code = "provider_response"


class ProviderNotAPI(ProviderResponseError):
    """The server answered, but not as the configured API does (an HTML page,
    malformed JSON, no chat completion in the body, another API's routes)."""

    code = "provider_not_api"


class ProviderWrongAPI(ProviderNotAPI):
    """The server speaks another API than the configured kind (e.g. no Ollama routes)."""

    code = "provider_wrong_api"


class ProviderUnknownModel(ProviderError):
    """The server does not serve the configured model."""

    code = "provider_unknown_model"


class ProviderContextOverflow(ProviderError):
    """The server refused the request: prompt and answer do not fit the model's context."""

    code = "provider_context"


class ProviderExhausted(ProviderError):
    """The scripted answers are used up; a live model must be configured."""

    code = "provider_exhausted"


def redact(text: str, *secrets: str | None) -> str:
    """Remove each secret, and anything shaped like an OpenAI/Anthropic key, from text.

    >>> redact("bad key sk-abcdef123456 for me", "me")
    'bad key *** for ***'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _KEY_PATTERN.sub("***", text)


def short(text: str, limit: int = 300) -> str:
    """Collapse whitespace and cut text to ``limit`` characters for an error message.

    >>> short("a   b\\n c", 10)
    'a b c'
    >>> short("x" * 20, 8)
    'xxxxxxx…'
    """
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_error(
    provider: str,
    status: int,
    detail: str,
    *,
    retry_after: float | None = None,
    secret: str | None = None,
) -> ProviderError:
    """The ProviderError for an HTTP error status, with a redacted, shortened detail."""
    detail = short(redact(detail, secret))
    if status in (401, 403):
        what = "refused the API key" if status == 401 else "denied access with this API key"
        return ProviderAuthError(
            f"{provider} {what} (HTTP {status}): {detail}", provider=provider, status=status
        )
    if status == 429:
        return ProviderRateLimited(
            f"{provider} is rate limiting requests (HTTP 429): {detail}",
            retry_after,
            provider=provider,
        )
    lowered = detail.lower()
    if (
        status in (400, 413)
        and "context" in lowered
        and any(word in lowered for word in ("exceed", "too long", "maximum context", "too large"))
    ):
        return ProviderContextOverflow(
            f"{provider} refused the request: it does not fit the model's context "
            f"(HTTP {status}): {detail}",
            provider=provider,
            status=status,
        )
    if (
        status in (400, 404)
        and "model" in lowered
        and ("not found" in lowered or "exist" in lowered)
    ):
        return ProviderUnknownModel(
            f"{provider} does not serve this model (HTTP {status}): {detail}",
            provider=provider,
            status=status,
        )
    if status in (408, 504):
        return ProviderTimeout(
            f"{provider} timed out (HTTP {status}): {detail}", provider=provider, status=status
        )
    if status >= 500:
        return ProviderUnavailable(
            f"{provider} is unavailable (HTTP {status}): {detail}", provider=provider, status=status
        )
    return ProviderError(
        f"{provider} rejected the request (HTTP {status}): {detail}",
        provider=provider,
        status=status,
    )


def stream_cut(provider: str, received: int, *, timed_out: bool) -> ProviderError:
    """The error for an answer that stopped after ``received`` characters: the server
    went quiet (a timeout) or the connection was cut."""
    if timed_out:
        return ProviderTimeout(
            f"{provider} stopped sending mid-answer ({received} characters in)", provider=provider
        )
    return ProviderResponseError(
        f"the {provider} stream was cut off after {received} characters", provider=provider
    )


def unreachable(
    provider: str, base_url: object, cause: BaseException, secret: str | None
) -> ProviderUnavailable:
    """The error for a connection that could not be made; the secret is redacted."""
    return ProviderUnavailable(
        f"cannot reach {provider} at {base_url}: {short(redact(str(cause), secret), 200)}",
        provider=provider,
    )


def reported_error(
    provider: str, err: BaseException, secret: str | None, *, mid_stream: bool
) -> ProviderResponseError:
    """The error for any other failure an SDK reports; the secret is redacted."""
    where = " in the middle of the answer" if mid_stream else ""
    return ProviderResponseError(
        f"{provider} reported an error{where}: {short(redact(str(err), secret))}",
        provider=provider,
    )


HTML_TYPES = ("text/html", "application/xhtml+xml")  #: a web page where an API was expected


def media_type(headers: Mapping[str, str]) -> str:
    """The lower-cased media type of a response's ``content-type``, without parameters.

    >>> media_type({"content-type": "Text/HTML; charset=utf-8"}), media_type({})
    ('text/html', '')
    """
    return headers.get("content-type", "").split(";")[0].strip().lower()
