"""Scripted answers from a file, and a wrapper that records a real model's answers.

A file of scripted answers (a "transcript") is JSON; the demo's was written
by hand for its planted faults, not produced by a model::

    {"provider": "openai", "model": "gpt-4o-mini",
     "exchanges": [{"match": "def parse_rows", "response": "...",
                    "input_tokens": 812, "output_tokens": 240}]}

:class:`ReplayProvider` answers each prompt with the first *unused* exchange
whose ``match`` occurs in the prompt; failing that, with the first *used* one
that matches (so a demo can ask the same thing twice); failing that, with the
next unused exchange that has no ``match``, in file order. When none is left
it raises :class:`ProviderExhausted`, whose message says so and points to
Settings > LLM provider. Its completions have ``replay=True``,
``provider="replay"``, cost ``0.0`` and no token usage (no model ran): every
UI must label them *scripted*. :class:`RecordingProvider` wraps a real
provider and appends every successful exchange to a transcript file.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, cast

from chimera_engine.patches.providers.base import (
    FINISH_STOP,
    Completion,
    CompletionRequest,
    Provider,
    ProviderError,
    ProviderExhausted,
)


class ReplayProvider:
    """Scripted answers from the file at ``path``, read once at construction.

    Raises ProviderError at construction when the file is missing or invalid.
    """

    name: str = "replay"
    is_replay: bool = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        data = _load(self.path)
        self.recorded_provider = str(data.get("provider", "unknown"))
        self.model = str(data.get("model", "unknown"))
        self.exchanges: list[dict[str, Any]] = data["exchanges"]
        self._used = [False] * len(self.exchanges)

    def __repr__(self) -> str:
        return f"ReplayProvider({str(self.path)!r}, model={self.model!r})"

    @property
    def remaining(self) -> int:
        """How many exchanges have not been used yet."""
        return self._used.count(False)

    async def complete(self, request: CompletionRequest) -> Completion:
        """The scripted answer for ``request.prompt`` (see the module doc for the order)."""
        started = time.monotonic()
        index = self._pick(request.prompt)
        if index is None:
            total = len(self.exchanges)
            what = (
                f"the scripted answers are used up (all {total} in {self.path.name} were given)"
                if self.remaining == 0
                else f"none of the {total} scripted answers in {self.path.name} fits this request"
            )
            raise ProviderExhausted(
                f"{what}: they are written by hand for the demo's planted faults only; "
                "choose a live model in Settings > LLM provider",
                provider=self.name,
            )
        self._used[index] = True
        exchange = self.exchanges[index]
        finish = str(exchange.get("finish_reason", FINISH_STOP))
        return Completion(
            text=str(exchange["response"]),
            provider=self.name,
            model=self.model,
            input_tokens=0,
            output_tokens=0,
            cost_usd=0.0,
            latency_s=time.monotonic() - started,
            finish_reason=finish,
            truncated=bool(exchange.get("truncated", finish != FINISH_STOP)),
            replay=True,
            attempts=1,
            usage_known=False,
        )

    async def aclose(self) -> None:
        """Nothing to release."""

    def _pick(self, prompt: str) -> int | None:
        matching = [
            i for i, ex in enumerate(self.exchanges) if ex.get("match") and ex["match"] in prompt
        ]
        for i in matching:
            if not self._used[i]:
                return i
        if matching:
            return matching[0]
        for i, ex in enumerate(self.exchanges):
            if not self._used[i] and not ex.get("match"):
                return i
        return None


class RecordingProvider:
    """Wraps ``inner`` and appends each successful exchange to the transcript at ``path``.

    The file is created when missing and rewritten atomically after each
    answer (off the event loop), so a crash never leaves half a file. Recorded
    exchanges carry the prompt for reference but no ``match``: they replay in
    order. Failed calls are not recorded; errors pass through unchanged.
    """

    def __init__(self, inner: Provider, path: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.path = Path(path)
        self.name = inner.name
        self.model = inner.model
        self.is_replay = inner.is_replay
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"RecordingProvider({self.inner!r}, {str(self.path)!r})"

    async def complete(self, request: CompletionRequest) -> Completion:
        """Ask ``inner``, record the answer, return it unchanged."""
        completion = await self.inner.complete(request)
        exchange = {
            "prompt": request.prompt,
            "response": completion.text,
            "input_tokens": completion.input_tokens,
            "output_tokens": completion.output_tokens,
            "finish_reason": completion.finish_reason,
            "truncated": completion.truncated,
        }
        async with self._lock:
            await asyncio.to_thread(self._append, exchange)
        return completion

    async def aclose(self) -> None:
        """Close ``inner``."""
        await self.inner.aclose()

    def _append(self, exchange: dict[str, Any]) -> None:
        if self.path.exists():
            data = _load(self.path)
        else:
            data = {"provider": self.name, "model": self.model, "exchanges": []}
        data["exchanges"].append(exchange)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProviderError(
            f"scripted answers file {path} does not exist", provider="replay"
        ) from None
    except (OSError, ValueError) as err:
        raise ProviderError(
            f"scripted answers file {path} cannot be read: {err}", provider="replay"
        ) from None
    exchanges = data.get("exchanges") if isinstance(data, dict) else None
    if not isinstance(exchanges, list) or not all(
        isinstance(ex, dict) and isinstance(ex.get("response"), str) for ex in exchanges
    ):
        raise ProviderError(
            f"scripted answers file {path} needs an 'exchanges' list of objects with a 'response'",
            provider="replay",
        )
    return cast(dict[str, Any], data)
