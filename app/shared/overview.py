"""What the Overview panel shows: six sections of items, each item pointing at a panel.

Everything here is plain data built from engine snapshots (no Qt, no engine
calls), so it is cheap to rebuild on every refresh and easy to test. An
:class:`Item` names the panel it clicks through to and a ``key`` that panel
understands (a patch id, an anomaly id, a metric key, a module and version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from textwrap import shorten
from typing import TYPE_CHECKING

from app.shared.formatting import format_clock, format_count

if TYPE_CHECKING:  # the anomaly engine imports numpy: kept out of the console's start-up
    from app.shared.tool_health import RecentHealth
    from chimera_engine.anomaly.engine import PredictiveAlert
    from chimera_engine.metrics.hub import MetricInfo, StoredAnomaly
    from chimera_engine.modules.service import ToolInfo, VersionInfo
    from chimera_engine.patches.attempts import Attempt
    from chimera_engine.patches.models import Patch
    from chimera_engine.store.records import AuditEntry
    from chimera_engine.swarm.coordinator import SwarmStats
    from chimera_engine.swarm.models import AgentInfo

TOOLS, ANOMALIES, PATCHES, AGENTS, RELOADS, AUDIT = (
    "tools",
    "anomalies",
    "patches",
    "agents",
    "reloads",
    "audit",
)
TITLES = {
    TOOLS: "Tool health",
    ANOMALIES: "Anomalies and predictions",
    PATCHES: "Patches waiting for review",
    AGENTS: "Agents",
    RELOADS: "Recent reloads",
    AUDIT: "Last audit events",
}
#: What to do next when a section is empty.
EMPTY = {
    TOOLS: "No tool is loaded. Put a Python module in the workspace's tools/ folder: "
    "it loads by itself and shows up here.",
    ANOMALIES: "Nothing open: no anomaly waits for acknowledgement and no failure is "
    "predicted. The live charts are on the Dashboard.",
    PATCHES: "No patch waits for review. When a tool misbehaves, request a fix from "
    "the Patches panel (or let the engine ask for one).",
    AGENTS: "No agent is running. Start one from the Swarm panel to run tasks in parallel.",
    RELOADS: "No reload yet. Edit a tool file or apply a patch: each new version is listed here.",
    AUDIT: "Nothing audited yet.",
}
#: Items listed per section (the summary line counts them all).
SHOWN = 8
#: Confidence below this is a warning when the engine sets no threshold of its own.
CONFIDENCE_FLOOR = 0.8


@dataclass(frozen=True, kw_only=True)
class Item:
    text: str
    severity: str = "muted"  # muted, ok, warn, critical
    panel: str = ""
    key: object = None
    tip: str = ""


@dataclass(frozen=True, kw_only=True)
class Section:
    name: str
    items: tuple[Item, ...] = ()
    summary: str = ""
    severity: str = "muted"
    #: Shown instead of the items: the user may not read this, or the service is off.
    note: str = ""

    @property
    def title(self) -> str:
        return TITLES[self.name]

    @property
    def empty_text(self) -> str:
        return self.note or EMPTY[self.name]


@dataclass(frozen=True, kw_only=True)
class Overview:
    sections: dict[str, Section] = field(default_factory=dict)
    read_at: float = 0.0

    def headline(self) -> str:
        """One line for the top of the panel: the counts that matter."""
        parts = [s.summary for s in self.sections.values() if s.summary]
        return " · ".join(parts)


def worst(severities: Iterable[str]) -> str:
    """The most severe of ``severities``.

    >>> worst(["ok", "warn", "muted"]), worst([])
    ('warn', 'muted')
    """
    order = ("muted", "ok", "warn", "critical")
    return max(severities, key=order.index, default="muted")


def confidences(metrics: Iterable[MetricInfo]) -> dict[str, float]:
    """The latest ``tool.confidence`` per tool name.

    >>> from chimera_engine.metrics.hub import MetricInfo
    >>> m = MetricInfo(key="tool.confidence{tool=ratio}", samples=3, state="ready",
    ...                last_t=1.0, last_value=0.93, rejected=0)
    >>> confidences([m])
    {'ratio': 0.93}
    """
    found: dict[str, float] = {}
    prefix = "tool.confidence{tool="
    for m in metrics:
        if m.key.startswith(prefix) and m.key.endswith("}"):
            found[m.key[len(prefix) : -1]] = m.last_value
    return found


def tool_section(
    tools: Sequence[ToolInfo],
    modules: Mapping[str, Sequence[VersionInfo]],
    confidence: Mapping[str, float],
    floor: float = CONFIDENCE_FLOOR,
    recent: Mapping[str, RecentHealth] | None = None,
) -> Section:
    """One row per tool of an active version, plus a row for each module that serves
    nothing (its last version failed to load). With ``recent`` (the metrics of the last
    minutes), a tool is judged on those (errors and latency), not on its lifetime."""
    items: list[Item] = []
    for name, versions in sorted(modules.items()):
        if versions and not any(v.active for v in versions):
            failed = versions[-1]
            why = failed.error or "no version loads"
            items.append(
                Item(
                    text=f"{name} — not serving: {why}",
                    severity="critical",
                    panel="Modules",
                    key=(name, failed.version),
                )
            )
    for tool in sorted(tools, key=lambda t: t.name):
        conf = confidence.get(tool.name)
        now = (recent or {}).get(tool.name)
        if now is not None:
            rate, calls, health = now.error_rate, now.calls, now.text()
        else:
            rate = tool.errors / tool.calls if tool.calls else 0.0
            calls = tool.calls
            if tool.calls:
                health = f"{100.0 * (1.0 - rate):.1f}% ok of {format_count(tool.calls)} calls"
            else:
                health = "no calls yet"
        severity = "ok" if calls or now is not None else "muted"
        if rate > 0.2 or (conf is not None and conf < floor / 2):
            severity = "critical"
        elif rate > 0.05 or (conf is not None and conf < floor) or (now and now.slow):
            severity = "warn"
        text = f"{tool.name} ({tool.module} v{tool.version}) — {health}"
        if conf is not None:
            text += f" · confidence {conf:.2f}"
        items.append(
            Item(
                text=text,
                severity=severity,
                panel="Modules",
                key=(tool.module, tool.version),
                tip=f"{tool.name}{tool.signature}: {tool.description}",
            )
        )
    items.sort(key=lambda i: ("critical", "warn", "ok", "muted").index(i.severity))
    total = len(items)
    unhealthy = sum(i.severity in ("warn", "critical") for i in items)
    return Section(
        name=TOOLS,
        items=tuple(items[:SHOWN]),
        summary=f"{total - unhealthy} of {total} tools healthy" if total else "",
        severity=worst(i.severity for i in items),
    )


def anomaly_section(
    anomalies: Sequence[StoredAnomaly], predictions: Sequence[PredictiveAlert], now: float
) -> Section:
    """Open (unacknowledged) anomalies, newest first, after the predictions still ahead."""
    items: list[Item] = []
    seen: set[str] = set()
    ahead = [p for p in predictions if p.at + 60.0 >= now]
    for alert in sorted(ahead, key=lambda p: -p.t):
        if alert.metric in seen:
            continue
        seen.add(alert.metric)
        items.append(
            Item(
                text=f"⚠ {alert.message(now)}",
                severity="critical",
                panel="Dashboard",
                key=("metric", alert.metric),
                tip=f"Predicted at {format_clock(alert.t)}",
            )
        )
    open_ = [a for a in anomalies if a.acknowledged_at is None]
    # One line per incident (an episode of a tool across its metrics), newest first.
    episodes: dict[object, list[StoredAnomaly]] = {}
    for anomaly in sorted(open_, key=lambda a: -a.t):
        key = anomaly.id if anomaly.incident_id is None else ("incident", anomaly.incident_id)
        episodes.setdefault(key, []).append(anomaly)
    for group in episodes.values():
        items.append(_episode_item(group))
    parts = []
    if episodes:
        n = len(episodes)
        parts.append(f"{n} open incident{'' if n == 1 else 's'}")
    if seen:
        parts.append(f"{len(seen)} predicted failure{'' if len(seen) == 1 else 's'}")
    return Section(
        name=ANOMALIES,
        items=tuple(items[:SHOWN]),
        summary=" · ".join(parts),
        severity=worst(i.severity for i in items),
    )


def _episode_item(group: Sequence[StoredAnomaly]) -> Item:
    """One Overview line for the open anomalies of one incident (newest first)."""
    newest, first = group[0], group[-1]
    peak = max(a.score for a in group)
    severity = "warn" if peak < 0.9 else "critical"
    if len(group) == 1:
        text = (
            f"{format_clock(newest.t)}  {newest.metric} = {newest.value:.4g} "
            f"(expected {newest.expected:.4g}) · {newest.kind}"
        )
    else:
        metrics = sorted({a.metric.split("{", 1)[0] for a in group})
        text = (
            f"{format_clock(first.t)}  {subject_label(newest.metric)}: {len(group)} anomalies "
            f"on {', '.join(metrics)}"
        )
    return Item(
        text=text,
        severity=severity,
        panel="Dashboard",
        key=("anomaly", newest.id),
        tip=f"Peak score {peak:.2f}; acknowledge it on the Dashboard or close it here",
    )


def subject_label(metric: str) -> str:
    """What an incident is about, from one of its metric keys.

    >>> subject_label("tool.error_rate{tool=etl}"), subject_label("host.cpu_percent")
    ('tool etl', 'host.cpu_percent')
    """
    from chimera_engine.anomaly.incidents import subject_of

    return subject_of(metric).replace("=", " ", 1)


def patch_section(
    waiting: Sequence[Patch], failed: Sequence[Attempt] = (), window: str = "24 h"
) -> Section:
    """Patches waiting for review, and the generation attempts of ``window`` that failed."""
    items = [
        Item(
            text=f"Patch {p.id} · {p.module} v{p.base_version} · risk {p.risk} · "
            f"{p.model or p.provider}{', scripted' if p.replay else ''}",
            severity="warn",
            panel="Patches",
            key=p.id,
            tip=(p.rationale.splitlines() or [""])[0][:200],
        )
        for p in sorted(waiting, key=lambda p: p.id)
    ]
    n = len(items)
    summary = f"{n} patch{'es' if n != 1 else ''} to review" if n else ""
    if failed:
        latest = failed[0]
        count = f"{len(failed)} failed generation attempt{'s' if len(failed) != 1 else ''}"
        items = [
            *items[: SHOWN - 1],
            Item(
                text=f"{count} ({window}) · latest: {latest.module}: "
                f"{shorten(latest.reason, 160, placeholder=' …')}",
                severity="warn",
                panel="Patches",
                key="attempts",
                tip="No usable patch came of these answers; the Attempts tab of the "
                "Patches panel lists each with its prompt, answer and reason",
            ),
        ]
        summary = " · ".join(s for s in (summary, f"{count} ({window})") if s)
    return Section(
        name=PATCHES,
        items=tuple(items[:SHOWN]),
        summary=summary,
        severity="warn" if n or failed else "muted",
    )


def agent_section(stats: SwarmStats | None, agents: Sequence[AgentInfo], off: str = "") -> Section:
    """``off``: why the swarm is not running (the section then says so and nothing else)."""
    if stats is None:
        return Section(
            name=AGENTS,
            summary="swarm off",
            note=f"The swarm is not running: {off or 'it is disabled'}. Enable it in the "
            "settings (swarm.enabled) to run tasks across agents.",
        )
    items = []
    for agent in agents:
        state = agent.state.value
        bad = state in ("dead", "killed", "refused")
        items.append(
            Item(
                text=f"{agent.id} · {state} · {agent.in_flight} in flight · "
                f"{agent.completed} done · reputation {agent.reputation:.2f}",
                severity="critical" if bad else ("ok" if state == "ready" else "muted"),
                panel="Swarm",
                key=agent.id,
                tip=agent.reason or f"{agent.backend} on {agent.host or 'this machine'}",
            )
        )
    return Section(
        name=AGENTS,
        items=tuple(items[:SHOWN]),
        summary=f"{stats.agents_ready} of {stats.agents} agents ready · {stats.queued} queued",
        severity=worst(i.severity for i in items),
    )


def reload_section(
    modules: Mapping[str, Sequence[VersionInfo]], deleted: Sequence[str] = ()
) -> Section:
    """The newest versions, after the modules whose file was deleted while they serve
    (each waits for an operator to remove it or restore its file)."""
    items: list[Item] = []
    for module in deleted:
        active = next((v for v in modules.get(module, ()) if v.active), None)
        serving = f"v{active.version} still serves" if active else "still serves"
        items.append(
            Item(
                text=f"{module}.py deleted · {serving} · remove it or restore the file",
                severity="warn",
                panel="Modules",
                key=(module, active.version) if active else None,
                tip="Its tools stay available until an operator decides in the Modules panel",
            )
        )
    versions = sorted(
        (v for vs in modules.values() for v in vs), key=lambda v: v.created_at, reverse=True
    )
    items += [
        Item(
            text=f"{format_clock(v.created_at)}  {v.module} v{v.version} · {v.origin} · {v.state}",
            severity="critical" if v.state == "failed" else ("ok" if v.active else "muted"),
            panel="Modules",
            key=(v.module, v.version),
            tip=v.error or f"content {v.content_hash[:12]}",
        )
        for v in versions[: max(0, SHOWN - len(items))]
    ]
    if not deleted:
        return Section(name=RELOADS, items=tuple(items))
    noun = "module" if len(deleted) == 1 else "modules"
    return Section(
        name=RELOADS,
        items=tuple(items),
        summary=f"{len(deleted)} deleted {noun} still serving",
        severity="warn",
    )


def short(text: str, width: int = 24) -> str:
    """``text`` cut to ``width`` characters (long ids read as their start).

    >>> short("9ff8e8b91beb4cbbbc1ca19e3e9da070", 12), short("patch:3")
    ('9ff8e8b91be…', 'patch:3')
    """
    return text if len(text) <= width else text[: width - 1] + "…"


def is_system_actor(actor: str) -> bool:
    """Entries made by the engine itself (the demo workload, schedulers), not a person.

    >>> is_system_actor("system:demo"), is_system_actor("admin")
    (True, False)
    """
    return actor.startswith("system:")


def audit_section(entries: Sequence[AuditEntry], *, people_only: bool = True) -> Section:
    """The last events; by default only what people (and API keys) did: the engine's
    own traffic (``system:`` actors, e.g. the demo's task submissions) would bury them."""
    hidden = sum(is_system_actor(e.actor) for e in entries) if people_only else 0
    if people_only:
        entries = [e for e in entries if not is_system_actor(e.actor)]
    items = [
        Item(
            text=f"{format_clock(e.ts)}  {e.actor} · {e.action} {short(e.target, 16)}".rstrip()
            + ("" if e.outcome == "ok" else f" · {e.outcome}"),
            severity="muted" if e.outcome == "ok" else "warn",
            panel="Audit",
            key=e.seq,
            tip=f"{e.action} {e.target}",
        )
        for e in entries[:SHOWN]
    ]
    summary = f"{hidden} system events hidden" if hidden else ""
    return Section(name=AUDIT, items=tuple(items), summary=summary)


def denied(name: str, why: str) -> Section:
    """A section the signed-in user may not read."""
    return Section(name=name, note=f"Not available: {why}")
