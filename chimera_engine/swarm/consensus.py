"""ConsensusEngine: deciding between redundant results.

Votes are grouped by equal value (exact equality of JSON values, or numbers
within ``tolerance``), then one of four rules decides:

* ``majority``: the winning value holds more than half of the expected votes.
* ``weighted``: more than half of the total weight of the votes cast, each vote
  weighing ``confidence x reputation``.
* ``unanimous``: every expected vote was cast, for the same value.
* ``quorum``: the winning value holds at least ``threshold`` of the expected votes.

``expected`` (the redundancy factor) defaults to the number of votes; a replica
that failed simply casts no vote. One agent casts at most one vote: further votes
from the same agent are not counted and the outcome names them (``duplicates``).
Ties and the absence of consensus are outcomes, never exceptions. Pure CPU, no
I/O: deciding ten votes takes a few microseconds; the coordinator audits each vote and outcome.

>>> engine = ConsensusEngine()
>>> out = engine.decide([Vote("a", 4), Vote("b", 4), Vote("c", 5)])
>>> out.status.value, out.value, out.dissenters
('agreed', 4, ('c',))
>>> engine.decide([Vote("a", 1), Vote("b", 2)]).status.value
'tie'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chimera_engine.swarm.models import ConsensusMethod, ConsensusPolicy

Comparator = Callable[[Any, Any], bool]


class Status(StrEnum):
    AGREED = "agreed"
    TIE = "tie"
    NO_CONSENSUS = "no_consensus"
    NO_VOTES = "no_votes"


@dataclass(frozen=True, slots=True)
class Vote:
    """One agent's result. ``confidence`` and ``reputation`` matter to ``weighted`` only."""

    agent: str
    value: Any
    confidence: float = 1.0
    reputation: float = 1.0


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What was decided. ``support`` is the winner's share (of the expected votes, or of
    the total weight for ``weighted``); on a tie ``value`` is None and ``tied`` lists
    the competing values."""

    status: Status
    method: ConsensusMethod
    value: Any = None
    support: float = 0.0
    votes: int = 0
    expected: int = 0
    groups: int = 0
    winners: tuple[str, ...] = ()
    dissenters: tuple[str, ...] = ()
    tied: tuple[Any, ...] = field(default=())
    reason: str = ""
    duplicates: tuple[str, ...] = ()

    @property
    def agreed(self) -> bool:
        return self.status is Status.AGREED

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "method": self.method.value,
            "value": self.value,
            "support": round(self.support, 6),
            "votes": self.votes,
            "expected": self.expected,
            "groups": self.groups,
            "winners": list(self.winners),
            "dissenters": list(self.dissenters),
            "tied": list(self.tied),
            "reason": self.reason,
            "duplicates": list(self.duplicates),
        }


def numeric_close(tolerance: float) -> Comparator:
    """Equal within ``tolerance`` for numbers, element-wise for lists and dicts.

    >>> numeric_close(0.01)([1.0, {"x": 2.0}], [1.005, {"x": 2.0}])
    True
    """

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, bool) or isinstance(b, bool):
            return a is b
        if isinstance(a, int | float) and isinstance(b, int | float):
            return math.isclose(a, b, rel_tol=0.0, abs_tol=tolerance)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return bool(a == b and type(a) is type(b))

    return same


_SCALARS = (str, int, float, bool, type(None))


def _exact_same(a: Any, b: Any) -> bool:
    """Equal JSON values (structures compared by ``==``, types checked at the top)."""
    return type(a) is type(b) and bool(a == b)


def distinct_voters(votes: Sequence[Vote]) -> tuple[list[Vote], tuple[str, ...]]:
    """Each agent's first vote, and the agents whose further votes are dropped: two
    replicas on one agent are one witness, not two.

    >>> kept, extra = distinct_voters([Vote("a", 1), Vote("a", 1), Vote("b", 1)])
    >>> [v.agent for v in kept], extra
    (['a', 'b'], ('a',))
    """
    seen: set[str] = set()
    kept: list[Vote] = []
    extra: list[str] = []
    for vote in votes:
        if vote.agent in seen:
            extra.append(vote.agent)
            continue
        seen.add(vote.agent)
        kept.append(vote)
    return kept, tuple(extra)


class ConsensusEngine:
    """Stateless; one instance can serve every task."""

    def decide(
        self,
        votes: Sequence[Vote],
        policy: ConsensusPolicy | None = None,
        *,
        expected: int | None = None,
        comparator: Comparator | None = None,
    ) -> Outcome:
        """Decide ``votes`` under ``policy`` (majority by default). ``comparator``, if
        given, replaces the policy's comparison (exact or numeric tolerance)."""
        policy = policy or ConsensusPolicy()
        method = policy.method
        votes, duplicates = distinct_voters(votes)
        note = (
            f"{len(duplicates)} extra vote(s) from {', '.join(sorted(set(duplicates)))} "
            "not counted (one vote per agent)"
            if duplicates
            else ""
        )
        n = len(votes)
        total = max(expected if expected is not None else n, n)
        if n == 0:
            return Outcome(
                status=Status.NO_VOTES,
                method=method,
                expected=total,
                reason="no replica produced a result",
                duplicates=duplicates,
            )
        groups = self._group(votes, policy, comparator)
        weighted = method is ConsensusMethod.WEIGHTED
        if weighted:
            sizes = [
                sum(max(v.confidence, 0.0) * max(v.reputation, 0.0) for v in g) for g in groups
            ]
            denominator = sum(sizes)
        else:
            sizes = [float(len(g)) for g in groups]
            denominator = float(total)
        order = sorted(range(len(groups)), key=lambda i: -sizes[i])
        best = order[0]
        share = sizes[best] / denominator if denominator > 0 else 0.0

        def outcome(status: Status, reason: str = "", **more: Any) -> Outcome:
            return Outcome(
                status=status,
                method=method,
                votes=n,
                expected=total,
                groups=len(groups),
                support=share,
                reason="; ".join(r for r in (reason, note) if r),
                duplicates=duplicates,
                **more,
            )

        if len(order) > 1 and math.isclose(sizes[order[1]], sizes[best]):
            tied = tuple(groups[i][0].value for i in order if math.isclose(sizes[i], sizes[best]))
            return outcome(Status.TIE, tied=tied, reason=f"{len(tied)} values have equal support")
        if method is ConsensusMethod.UNANIMOUS:
            ok, need = len(groups) == 1 and n == total, "every expected vote"
        elif method is ConsensusMethod.QUORUM:
            ok, need = share >= policy.threshold - 1e-12, f"at least {policy.threshold:.0%}"
        else:
            ok, need = share > 0.5, "more than 50%"
        if not ok:
            return outcome(
                Status.NO_CONSENSUS,
                reason=(f"the leading value has {share:.0%} support; {method.value} needs {need}"),
            )
        winners = tuple(v.agent for v in groups[best])
        dissent = tuple(v.agent for i, g in enumerate(groups) if i != best for v in g)
        return outcome(
            Status.AGREED, value=groups[best][0].value, winners=winners, dissenters=dissent
        )

    @staticmethod
    def _group(
        votes: Sequence[Vote], policy: ConsensusPolicy, comparator: Comparator | None
    ) -> list[list[Vote]]:
        same = comparator or (
            numeric_close(policy.tolerance) if policy.tolerance is not None else None
        )
        groups: list[list[Vote]] = []
        if same is None:
            by_key: dict[Any, list[Vote]] = {}
            for vote in votes:
                value = vote.value
                if type(value) in _SCALARS:
                    key = (type(value), value)
                    found = by_key.get(key)
                    if found is None:
                        found = by_key[key] = []
                        groups.append(found)
                    found.append(vote)
                    continue
                for group in groups:
                    if _exact_same(group[0].value, value):
                        group.append(vote)
                        break
                else:
                    groups.append([vote])
            return groups
        for vote in votes:
            for group in groups:
                if same(group[0].value, vote.value):
                    group.append(vote)
                    break
            else:
                groups.append([vote])
        return groups
