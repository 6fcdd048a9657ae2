"""Reputation and agent choice (BOINC-style reliability, least-loaded placement).

Each agent's reputation lies in [``FLOOR``, 1]. It rises by ``gain`` x the
distance to 1 on a success and on agreeing with a consensus, and falls by
``loss`` x its value on a failure, a timeout, a death with work in hand, or a
dissenting vote; falls are sharper than rises, as in BOINC's host reliability.

:func:`pick` scores eligible agents by ``reputation x free share of capacity``
and takes the best, so a slow agent (its slots stay full) or a failing one
(low reputation) receives less work. Nobody is ever starved or favoured
absolutely: the floor keeps a bad agent eligible (it may recover) and the load
term sends work elsewhere as soon as a good agent fills up.

>>> r = Reputation(0.5)
>>> r.success(); round(r.value, 3)
0.525
>>> r.failure(); round(r.value, 3)
0.42
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

FLOOR = 0.02


@dataclass
class Reputation:
    value: float = 0.5
    gain: float = 0.05
    loss: float = 0.2
    successes: int = 0
    failures: int = 0
    agreements: int = 0
    dissents: int = 0

    def _up(self) -> None:
        self.value = min(1.0, self.value + self.gain * (1.0 - self.value))

    def _down(self) -> None:
        self.value = max(FLOOR, self.value - self.loss * self.value)

    def success(self) -> None:
        self.successes += 1
        self._up()

    def failure(self) -> None:
        """A tool error, a timeout, or a death while holding work."""
        self.failures += 1
        self._down()

    def agreed(self) -> None:
        self.agreements += 1
        self._up()

    def dissented(self) -> None:
        self.dissents += 1
        self._down()


class Candidate(Protocol):
    """What placement needs to know of an agent."""

    @property
    def id(self) -> str: ...

    @property
    def capacity(self) -> int: ...

    @property
    def load(self) -> int: ...

    @property
    def reputation(self) -> float: ...


def score(agent: Candidate) -> float:
    free = agent.capacity - agent.load
    if free <= 0:
        return -1.0
    return agent.reputation * free / agent.capacity


def pick(agents: Iterable[Candidate], exclude: frozenset[str] = frozenset()) -> Candidate | None:
    """The best agent with a free slot that is not in ``exclude``; None if there is none.

    Ties go to the least loaded agent, then to the first listed.
    """
    best: Candidate | None = None
    best_key = (0.0, 0)
    for agent in agents:
        if agent.id in exclude:
            continue
        s = score(agent)
        if s < 0:
            continue
        key = (s, -agent.load)
        if best is None or key > best_key:
            best, best_key = agent, key
    return best
