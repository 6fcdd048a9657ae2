"""USD list prices per million tokens for common OpenAI and Anthropic models.

Standard (non-batch, uncached, short-context) API list prices: Anthropic's
from its model pages (November 2026), OpenAI's from its pricing page (the
GPT-5.4/5.5 rows as of mid-2026; older rows are the last published prices).
Long-context surcharges, cache reads/writes, batch discounts and tiered
models (e.g. Claude Haiku 5.5) are not modelled. Prices change: a deployment
can pass ``overrides`` (same shape as :data:`PRICES`) from its settings.

A model not in the table costs ``None`` (unknown), never a guess; local
models and replays cost ``0.0``. Dated snapshot names
(``gpt-4o-mini-2024-07-18``, ``claude-sonnet-4-5-20250929``) and ``-latest``
aliases resolve to their base model unless listed themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """USD per 1,000,000 input (prompt) and output (completion) tokens."""

    input_per_mtok: float
    output_per_mtok: float


PRICES: Mapping[str, Price] = {
    # OpenAI
    "gpt-5.5": Price(5.00, 30.00),
    "gpt-5.4": Price(2.50, 15.00),
    "gpt-5.4-mini": Price(0.75, 4.50),
    "gpt-5.4-nano": Price(0.20, 1.25),
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-2024-05-13": Price(5.00, 15.00),
    "chatgpt-4o-latest": Price(5.00, 15.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o1": Price(15.00, 60.00),
    "o1-mini": Price(1.10, 4.40),
    "o3": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    # Anthropic
    "claude-fable-5-1": Price(10.00, 50.00),
    "claude-opus-5-5": Price(4.00, 20.00),
    "claude-opus-5": Price(5.00, 25.00),
    "claude-sonnet-5-5": Price(2.00, 10.00),
    "claude-sonnet-5": Price(2.00, 10.00),
    "claude-opus-4-8": Price(5.00, 25.00),
    "claude-opus-4-6": Price(5.00, 25.00),
    "claude-sonnet-4-6": Price(3.00, 15.00),
    "claude-opus-4-5": Price(5.00, 25.00),
    "claude-opus-4-1": Price(15.00, 75.00),
    "claude-opus-4": Price(15.00, 75.00),
    "claude-sonnet-4-5": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-3-7-sonnet": Price(3.00, 15.00),
    "claude-3-5-sonnet": Price(3.00, 15.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-3-5-haiku": Price(0.80, 4.00),
    "claude-3-opus": Price(15.00, 75.00),
    "claude-3-haiku": Price(0.25, 1.25),
}

_SUFFIX = re.compile(r"(-latest|-\d{4}-\d{2}-\d{2}|-\d{8})$")


def price_for(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``, or ``None`` when it is not known.

    >>> price_for("gpt-4o-mini-2024-07-18")
    Price(input_per_mtok=0.15, output_per_mtok=0.6)
    >>> price_for("claude-3-5-sonnet-latest").output_per_mtok
    15.0
    >>> price_for("gpt-4o-2024-05-13").input_per_mtok, price_for("my-finetune") is None
    (5.0, True)
    """
    extra = {name.lower(): price for name, price in overrides.items()} if overrides else {}
    name = model.strip().lower()
    while True:
        if name in extra:
            return extra[name]
        if name in PRICES:
            return PRICES[name]
        shorter = _SUFFIX.sub("", name)
        if shorter == name:
            return None
        name = shorter


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    overrides: Mapping[str, Price] | None = None,
) -> float | None:
    """USD cost of one call, or ``None`` when the model's price is unknown.

    >>> cost_usd("gpt-4o-mini", 1_000_000, 1_000_000)
    0.75
    >>> round(cost_usd("claude-sonnet-4-5", 1200, 300), 6)
    0.0081
    >>> cost_usd("llama3.1:8b", 10, 10) is None
    True
    """
    price = price_for(model, overrides)
    if price is None:
        return None
    return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6
