"""Each agent's vote on a redundant task, kept with the task's consensus outcome.

When replicas of a task are decided, the coordinator records the outcome
(:meth:`~.consensus.Outcome.to_json`) plus a ``ballots`` list: who voted what,
with which confidence and weight, and whether the vote agreed with the decided
value. :class:`ConsensusRecord` reads that back for callers (the console's
consensus view, the API). Values larger than :data:`VALUE_LIMIT` characters of
JSON are kept as a preview only: a result is already stored once per task.

>>> from chimera_engine.swarm.consensus import ConsensusEngine, Vote
>>> votes = [Vote("a", 4), Vote("b", 4), Vote("c", 5)]
>>> outcome = ConsensusEngine().decide(votes)
>>> record = ConsensusRecord.from_outcome("t1", {**outcome.to_json(),
...                                              "ballots": ballots_json(votes, outcome)})
>>> [(b.agent, b.value, b.verdict) for b in record.ballots]
[('a', 4, 'agreed'), ('b', 4, 'agreed'), ('c', 5, 'dissent')]
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chimera_engine.swarm.consensus import Outcome, Vote
from chimera_engine.swarm.models import ConsensusMethod

VALUE_LIMIT = 2000
"""Characters of JSON kept for one vote's value; longer values keep a preview."""
PREVIEW_CHARS = 240

AGREED, DISSENT, UNDECIDED, DUPLICATE = "agreed", "dissent", "", "duplicate"


def ballots_json(votes: Sequence[Vote], outcome: Outcome) -> list[dict[str, Any]]:
    """The ``ballots`` list recorded with ``outcome`` (JSON values only)."""
    weighted = outcome.method is ConsensusMethod.WEIGHTED
    winners = Counter(outcome.winners) if outcome.agreed else Counter[str]()
    ballots: list[dict[str, Any]] = []
    seen: set[str] = set()
    for vote in votes:
        duplicate = vote.agent in seen
        seen.add(vote.agent)
        if duplicate:
            verdict = DUPLICATE  # a second vote from one agent counts for nothing
        elif not outcome.agreed:
            verdict = UNDECIDED
        elif winners[vote.agent] > 0:
            winners[vote.agent] -= 1
            verdict = AGREED
        else:
            verdict = DISSENT
        weight = max(vote.confidence, 0.0) * max(vote.reputation, 0.0) if weighted else 1.0
        if duplicate:
            weight = 0.0
        ballot: dict[str, Any] = {
            "agent": vote.agent,
            "value": vote.value,
            "confidence": round(float(vote.confidence), 6),
            "reputation": round(float(vote.reputation), 6),
            "weight": round(weight, 6),
            "verdict": verdict,
        }
        try:
            text = json.dumps(vote.value, default=str)
        except ValueError:
            text = repr(vote.value)
        if len(text) > VALUE_LIMIT:
            ballot["value"] = None
            ballot["preview"] = text[:PREVIEW_CHARS] + "…"
        ballots.append(ballot)
    return ballots


@dataclass(frozen=True, kw_only=True)
class Ballot:
    """One agent's vote. ``verdict`` is ``agreed``, ``dissent`` or "" (nothing was
    decided: a tie or no consensus). ``weight`` is what the vote counted for
    (confidence x reputation under ``weighted``, else 1). ``preview`` is set, and
    ``value`` None, when the value was too large to keep; ``known`` is False for
    outcomes recorded before votes were kept (only agent and verdict are known)."""

    agent: str
    value: Any
    confidence: float
    reputation: float
    weight: float
    verdict: str
    preview: str = ""
    known: bool = True


@dataclass(frozen=True, kw_only=True)
class ConsensusRecord:
    """A redundant task's decision: the outcome's fields and every ballot.

    ``status`` is ``agreed``, ``tie``, ``no_consensus`` or ``no_votes``; ``value`` is
    the decided value (None unless agreed); ``tied`` lists the values that tied;
    ``support`` is the winner's share (see :class:`~.consensus.Outcome`).
    """

    task_id: str
    status: str
    method: str
    value: Any
    support: float
    votes: int
    expected: int
    reason: str
    tied: tuple[Any, ...]
    ballots: tuple[Ballot, ...]

    @property
    def agreed(self) -> bool:
        return self.status == "agreed"

    @classmethod
    def from_outcome(cls, task_id: str, outcome: Mapping[str, Any]) -> ConsensusRecord:
        """Read a recorded outcome (``TaskInfo.consensus`` or a ``ConsensusDecided``)."""
        recorded = outcome.get("ballots")
        if isinstance(recorded, list):
            ballots = tuple(_ballot(b) for b in recorded if isinstance(b, Mapping))
        else:  # recorded without ballots: who agreed and who did not is all there is
            ballots = tuple(
                Ballot(
                    agent=str(agent),
                    value=None,
                    confidence=0.0,
                    reputation=0.0,
                    weight=0.0,
                    verdict=verdict,
                    known=False,
                )
                for key, verdict in (("winners", AGREED), ("dissenters", DISSENT))
                for agent in outcome.get(key) or ()
            )
        return cls(
            task_id=task_id,
            status=str(outcome.get("status", "")),
            method=str(outcome.get("method", "")),
            value=outcome.get("value"),
            support=float(outcome.get("support") or 0.0),
            votes=int(outcome.get("votes") or 0),
            expected=int(outcome.get("expected") or 0),
            reason=str(outcome.get("reason", "")),
            tied=tuple(outcome.get("tied") or ()),
            ballots=ballots,
        )


def _ballot(data: Mapping[str, Any]) -> Ballot:
    return Ballot(
        agent=str(data.get("agent", "")),
        value=data.get("value"),
        confidence=float(data.get("confidence") or 0.0),
        reputation=float(data.get("reputation") or 0.0),
        weight=float(data.get("weight") or 0.0),
        verdict=str(data.get("verdict", "")),
        preview=str(data.get("preview", "")),
    )
