"""Every answer asked of a model for a patch, kept whether it was usable or not.

One generation run (one request for a fix) makes up to ``max_attempts``
attempts; each is an :class:`Attempt` with the prompt sent, the text that
came back, the verdict on it and what it cost. Token counts are ``None``
when the server did not report them (shown as "unknown", never as 0); the
cost is ``None`` when it is not known. ``trigger`` says why the fix was
asked for: who or what asked, and the evidence (anomalies, metrics, failing
calls) the prompt was built from.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chimera_engine.patches.models import PatchRequest
from chimera_engine.store.db import Database

#: Verdicts. Only ``PASSED`` produced a patch that passed its sandbox tests.
PASSED = "passed"
SANDBOX = "sandbox"  #: a patch was made but its tests failed or the sandbox refused it
UNPARSEABLE = "unparseable"  #: the answer was not in the patch format (or not applicable)
TRUNCATED = "truncated"  #: the answer was cut off (output limit or the model's context)
PROVIDER = "provider"  #: the server failed or refused (HTTP error, timeout, unreachable)
NOT_API = "not_api"  #: the server's answer was not the configured API (HTML, bad JSON, other API)
REPEATED = "repeated"  #: the model gave an earlier answer (or patch) again
CONTEXT = "context"  #: nothing was sent: the prompt does not fit the model's context
VERDICTS = (PASSED, SANDBOX, UNPARSEABLE, TRUNCATED, PROVIDER, NOT_API, REPEATED, CONTEXT)

_COLUMNS = (
    "id, run_id, number, ts, module, base_version, actor, trigger, provider, model, scripted, "
    "prompt, answer, verdict, ok, reason, input_tokens, output_tokens, cost_usd, latency_s, "
    "patch_id"
)


@dataclass(frozen=True, kw_only=True)
class AttemptDraft:
    """What the generator knows about one attempt when it is over."""

    number: int
    provider: str
    model: str
    scripted: bool
    prompt: str
    answer: str
    verdict: str
    reason: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.verdict == PASSED


@dataclass(frozen=True, kw_only=True)
class Attempt(AttemptDraft):
    id: int
    run_id: str
    ts: float
    module: str
    base_version: int
    actor: str
    trigger: dict[str, Any] = field(default_factory=dict)
    patch_id: int | None = None


def trigger_of(request: PatchRequest, actor: str) -> dict[str, Any]:
    """Why the fix was asked for, as stored with every attempt (JSON-safe)."""
    return {
        "by": actor,
        "reason": request.trigger or f"requested by {actor}",
        "note": request.note,
        "anomalies": list(request.anomalies[:10]),
        "metrics": {k: float(v) for k, v in sorted(request.metrics.items())},
        "failures": [f"{f.exception_type}: {f.message[:200]}" for f in request.failures[:5]],
    }


def describe_trigger(trigger: dict[str, Any]) -> str:
    """The trigger in one line.

    >>> describe_trigger({"reason": "requested by ann", "note": "slow", "metrics": {"calls": 3.0},
    ...                   "failures": ["ZeroDivisionError: division by zero"]})
    'requested by ann ("slow") (calls=3); first failure ZeroDivisionError: division by zero'
    """
    text = str(trigger.get("reason") or "unknown")
    if trigger.get("note"):
        text += f' ("{trigger["note"]}")'
    metrics = trigger.get("metrics") or {}
    if metrics:
        text += " (" + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()) + ")"
    failures = trigger.get("failures") or []
    if failures:
        text += f"; first failure {failures[0]}"
    return text


def tokens_text(value: int | None) -> str:
    """A token count for people: ``"unknown"`` when the server did not report it.

    >>> tokens_text(None), tokens_text(1221)
    ('unknown', '1,221')
    """
    return "unknown" if value is None else f"{value:,}"


def _attempt(row: tuple[Any, ...]) -> Attempt:
    return Attempt(
        id=row[0],
        run_id=row[1],
        number=row[2],
        ts=row[3],
        module=row[4],
        base_version=row[5],
        actor=row[6],
        trigger=json.loads(row[7] or "{}"),
        provider=row[8],
        model=row[9],
        scripted=bool(row[10]),
        prompt=row[11],
        answer=row[12],
        verdict=row[13],
        reason=row[15],
        input_tokens=row[16],
        output_tokens=row[17],
        cost_usd=row[18],
        latency_s=row[19],
        patch_id=row[20],
    )


class AttemptRepository:
    """The ``patch_attempts`` table of one workspace."""

    def __init__(self, db: Database, workspace: str, clock: Callable[[], float] = time.time):
        self._db = db
        self._workspace = workspace
        self._clock = clock

    async def add(
        self,
        draft: AttemptDraft,
        *,
        run_id: str,
        request: PatchRequest,
        actor: str,
        trigger: dict[str, Any],
        patch_id: int | None = None,
    ) -> Attempt:
        now = self._clock()
        values = (
            self._workspace,
            run_id,
            draft.number,
            now,
            request.module,
            request.base_version,
            actor,
            json.dumps(trigger),
            draft.provider,
            draft.model,
            int(draft.scripted),
            draft.prompt,
            draft.answer,
            draft.verdict,
            int(draft.ok),
            draft.reason,
            draft.input_tokens,
            draft.output_tokens,
            draft.cost_usd,
            draft.latency_s,
            patch_id,
        )

        def insert(conn: sqlite3.Connection) -> Attempt:
            cur = conn.execute(
                "INSERT INTO patch_attempts(workspace, run_id, number, ts, module, base_version, "
                "actor, trigger, provider, model, scripted, prompt, answer, verdict, ok, reason, "
                "input_tokens, output_tokens, cost_usd, latency_s, patch_id) "
                f"VALUES ({', '.join('?' * len(values))})",
                values,
            )
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM patch_attempts WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
            return _attempt(row)

        return await self._db.write(insert)

    async def find(
        self,
        *,
        failed_only: bool = False,
        module: str | None = None,
        patch_id: int | None = None,
        limit: int = 200,
    ) -> list[Attempt]:
        """The newest attempts first; ``failed_only`` leaves out those that passed."""
        where = ["workspace = ?"]
        args: list[Any] = [self._workspace]
        if failed_only:
            where.append("ok = 0")
        if module:
            where.append("module = ?")
            args.append(module)
        if patch_id is not None:
            where.append("patch_id = ?")
            args.append(patch_id)
        sql = (
            f"SELECT {_COLUMNS} FROM patch_attempts WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?"
        )
        rows = await self._db.read(lambda c: c.execute(sql, (*args, limit)).fetchall())
        return [_attempt(r) for r in rows]

    async def count_failed(self, since: float = 0.0) -> int:
        """How many attempts since ``since`` (epoch seconds) gave no usable patch."""
        row = await self._db.read(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM patch_attempts WHERE workspace = ? AND ok = 0 AND ts >= ?",
                (self._workspace, since),
            ).fetchone()
        )
        return int(row[0])
