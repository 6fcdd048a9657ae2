"""Reputation and agent choice (BOINC-style reliability, least-loaded placement).

Each agent's reputation lies in [``FLOOR``, 1]. It rises by ``gain`` x the
distance to 1 on a success and on agreeing with a consensus, and falls by
``loss`` x its value on a failure, a timeout, a death with work in hand, or a
dissenting vote; falls are sharper than rises, as in BOINC's host reliability.
A failure also makes the agent *rest* for a while that doubles with each
consecutive failure (``BASE_REST`` up to ``MAX_REST``) and a success ends, so
an agent that fails fast cannot swallow the queue (a "black hole").

:func:`pick` scores eligible agents by ``reputation x free share of their
slots``, where an agent's slots shrink with its reputation (never below one),
and takes the best. A slow agent (its slots stay full) or a failing one (low
reputation, fewer slots, resting) receives less work, but is never starved for
good: the floor and the bounded rest keep it eligible so it can recover, and
the load term sends work elsewhere as soon as a good agent fills up.

>>> r = Reputation(0.5)
>>> r.success(); round(r.value, 3)
0.525
>>> r.failure(now=0.0); round(r.value, 3), r.resting(0.01)
(0.42, True)
>>> Reputation(0.5).slots(6), Reputation(0.25).slots(6), Reputation(0.02).slots(6)
(6, 3, 1)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

FLOOR = 0.02
NEUTRAL = 0.5
BASE_REST = 0.05
MAX_REST = 2.0


@dataclass
class Reputation:
    value: float = NEUTRAL
    gain: float = 0.05
    loss: float = 0.2
    successes: int = 0
    failures: int = 0
    agreements: int = 0
    dissents: int = 0
    streak: int = 0
    rest_until: float = 0.0

    def _up(self) -> None:
        self.value = min(1.0, self.value + self.gain * (1.0 - self.value))

    def _down(self) -> None:
        self.value = max(FLOOR, self.value - self.loss * self.value)

    def success(self) -> None:
        self.successes += 1
        self.streak = 0
        self._up()

    def failure(self, *, now: float | None = None) -> None:
        """A failure the agent is to blame for (others succeed with the same tool), a
        timeout, or a death while holding work. ``now`` is monotonic seconds."""
        self.failures += 1
        self.streak += 1
        self._down()
        rest = min(MAX_REST, BASE_REST * 2 ** (self.streak - 1))
        self.rest_until = (time.monotonic() if now is None else now) + rest

    def agreed(self) -> None:
        self.agreements += 1
        self._up()

    def dissented(self) -> None:
        self.dissents += 1
        self._down()

    def resting(self, now: float) -> bool:
        return now < self.rest_until

    def slots(self, capacity: int) -> int:
        """How many of ``capacity`` slots this reputation earns (at least one)."""
        share = min(1.0, self.value / NEUTRAL)
        return max(1, min(capacity, math.ceil(capacity * share - 1e-9)))


class Candidate(Protocol):
    """What placement needs to know of an agent."""

    @property
    def id(self) -> str: ...

    @property
    def capacity(self) -> int: ...

    @property
    def load(self) -> int: ...

    @property
    def reputation_book(self) -> Reputation: ...


def pick(
    agents: Iterable[Candidate], exclude: frozenset[str] = frozenset(), now: float | None = None
) -> Candidate | None:
    """The best agent with a free slot that is neither resting nor in ``exclude``;
    None if there is none. Ties go to the least loaded agent, then to the first listed."""
    now = time.monotonic() if now is None else now
    best: Candidate | None = None
    best_key = (0.0, 0)
    for agent in agents:
        if agent.id in exclude:
            continue
        book = agent.reputation_book
        if book.resting(now):
            continue
        slots = book.slots(agent.capacity)
        free = slots - agent.load
        if free <= 0:
            continue
        key = (book.value * free / slots, -agent.load)
        if best is None or key > best_key:
            best, best_key = agent, key
    return best
