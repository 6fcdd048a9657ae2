"""The rows of the Attempts tab: every answer asked of a model for a patch."""

from __future__ import annotations

import time

from app.panels.patches.rows import format_cost
from app.shared.badges import NEUTRAL_COLOURS, REPLAY_COLOURS, Badge
from app.shared.records import Column
from chimera_engine.patches.attempts import Attempt, describe_trigger, tokens_text

#: Verdicts: green passed; red when the model's answer was unusable; amber when the
#: server or the context stood in the way.
VERDICT_COLOURS: dict[str, tuple[str, str]] = {
    "passed": ("#05603a", "#d1fadf"),
    "sandbox": ("#b42318", "#fee4e2"),
    "unparseable": ("#b42318", "#fee4e2"),
    "repeated": ("#b42318", "#fee4e2"),
    "truncated": ("#93370d", "#fef0c7"),
    "context": ("#93370d", "#fef0c7"),
    "provider": ("#93370d", "#fef0c7"),
    "not_api": ("#93370d", "#fef0c7"),
}

VERDICT_LABELS = {
    "passed": "passed",
    "sandbox": "tests failed",
    "unparseable": "unusable answer",
    "repeated": "repeated",
    "truncated": "cut off",
    "context": "too big for context",
    "provider": "server error",
    "not_api": "not the API",
}

#: The Attempts filter: (label, verdicts shown; empty = all, None = every failure).
ATTEMPT_FILTERS: list[tuple[str, tuple[str, ...] | None]] = [
    ("Failed attempts", None),
    ("All attempts", ()),
    ("Unusable answers", ("unparseable", "repeated")),
    ("Sandbox failures", ("sandbox",)),
    ("Cut off / context", ("truncated", "context")),
    ("Server errors / not the API", ("provider", "not_api")),
]


def shows(attempt: Attempt, verdicts: tuple[str, ...] | None) -> bool:
    """Whether a filter of ``verdicts`` (see :data:`ATTEMPT_FILTERS`) shows ``attempt``."""
    if verdicts is None:
        return not attempt.ok
    return not verdicts or attempt.verdict in verdicts


def verdict_badge(attempt: Attempt) -> Badge:
    fg, bg = VERDICT_COLOURS.get(attempt.verdict, NEUTRAL_COLOURS)
    return Badge(VERDICT_LABELS.get(attempt.verdict, attempt.verdict), fg, bg)


def source_badge(attempt: Attempt) -> Badge | None:
    return Badge("SCRIPTED", *REPLAY_COLOURS, rest=attempt.model) if attempt.scripted else None


def source_text(attempt: Attempt) -> str:
    if attempt.scripted:
        return f"SCRIPTED · {attempt.model}"
    return f"{attempt.provider} · {attempt.model}"


def tokens_pair(attempt: Attempt) -> str:
    """``"1,221 / 180"``; ``"unknown"`` when the server did not report its usage."""
    if attempt.scripted:
        return "none (scripted)"
    if attempt.input_tokens is None and attempt.output_tokens is None:
        return "unknown"
    return f"{tokens_text(attempt.input_tokens)} / {tokens_text(attempt.output_tokens)}"


def latency_text(attempt: Attempt) -> str:
    return "—" if attempt.latency_s is None else f"{attempt.latency_s:.1f} s"


def when_text(attempt: Attempt) -> str:
    return time.strftime("%H:%M:%S", time.localtime(attempt.ts))


ATTEMPT_COLUMNS: list[Column[Attempt]] = [
    Column("When", when_text, 70, sort=lambda a: a.ts),
    Column("Module", lambda a: a.module, 90),
    Column("Try", lambda a: str(a.number), 34, right=True, sort=lambda a: a.number),
    Column(
        "Verdict",
        lambda a: VERDICT_LABELS.get(a.verdict, a.verdict),
        132,
        badge=verdict_badge,
    ),
    Column(
        "Reason",
        lambda a: a.reason.removeprefix("provider error: "),
        320,
        tooltip=lambda a: a.reason,
    ),
    Column("Tokens in / out", tokens_pair, 126, right=True),
    Column("Cost", lambda a: format_cost(a.cost_usd), 60, right=True),
    Column("Latency", latency_text, 70, right=True, sort=lambda a: a.latency_s or 0.0),
    Column("Provider / model", source_text, 170, badge=source_badge),
    Column(
        "Requested because",
        lambda a: describe_trigger(a.trigger),
        260,
        tooltip=lambda a: describe_trigger(a.trigger),
    ),
]


def facts(attempt: Attempt) -> str:
    """The attempt's facts, one per line, for the detail pane."""
    trigger = attempt.trigger
    rows = [
        ("Verdict", VERDICT_LABELS.get(attempt.verdict, attempt.verdict)),
        ("Reason", attempt.reason or "—"),
        ("Requested because", str(trigger.get("reason") or "unknown")),
        ("Requested by", str(trigger.get("by") or attempt.actor)),
    ]
    metrics = trigger.get("metrics") or {}
    if metrics:
        rows.append(("Metrics", ", ".join(f"{k} = {v:.4g}" for k, v in metrics.items())))
    for i, failure in enumerate(trigger.get("failures") or [], 1):
        rows.append((f"Failure {i}", str(failure)))
    for anomaly in trigger.get("anomalies") or []:
        rows.append(("Anomaly", str(anomaly)))
    if trigger.get("note"):
        rows.append(("Note", str(trigger["note"])))
    rows += [
        ("Module", f"{attempt.module} v{attempt.base_version}, try {attempt.number}"),
        ("Provider / model", source_text(attempt)),
        ("Tokens in / out", tokens_pair(attempt)),
        ("Cost", format_cost(attempt.cost_usd)),
        ("Latency", latency_text(attempt)),
        ("Patch", f"#{attempt.patch_id}" if attempt.patch_id is not None else "none made"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
