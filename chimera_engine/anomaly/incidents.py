"""Incidents: one per episode of a subject, however many of its metrics alert.

An operator wants "tool clean_csv is in trouble since 14:02", not one line per
metric and sample. Anomalies are grouped by *subject*: the ``tool``, ``agent``
or ``module`` label of the metric key when it has one (every metric of a tool
belongs to one subject), else the metric key itself. The first anomaly of a
subject with no open incident opens one; later anomalies join it.

Each metric's *normal* is fixed when it first alerts in the incident: the band
``level +- half_width`` the detector had learned before the anomaly (see
:meth:`~chimera_engine.anomaly.engine.AnomalyDetectionEngine.normal_band`); the
detector may later accept a lasting shift as its new normal, the incident does
not. An open incident resolves by itself once the subject is back to normal for
a while: no anomaly for ``quiet_s`` seconds and the latest sample of every metric
that took part inside its band on every check for ``quiet_s`` seconds in a row.
A process rarely gives memory back once a leak stops, so a resident-memory
metric (``rss`` in its name) also counts as back to normal when it has *settled*:
it stays within its band's half-width of where it stood at an earlier check (a
leak that keeps growing by its floor a minute never settles).

One fault shows in more than one subject: a tool's calls surge while the agent
running it leaks memory, and the host's CPU climbs with them. An anomaly of a
subject with no open incident *folds* into an incident another subject opened
less than ``fold_s`` seconds before when one of the two is a workload (a tool or a
module) and the other is machinery (an agent, the host, a bare metric): a tool and
the machinery under it are one incident, while two tools failing together, or two
unrelated bare metrics, stay two. The folded subject then joins that incident until it resolves.
Pure CPU, no I/O, not thread-safe: the hub persists what it reports.

>>> tr = IncidentTracker(quiet_s=60.0)
>>> first, opened = tr.on_anomaly("tool.error_rate{tool=etl}", 100.0, 0.8, (0.02, 0.05))
>>> same, again = tr.on_anomaly("tool.latency_ms{tool=etl}", 130.0, 0.7, (50.0, 12.5))
>>> opened, again, same is first, sorted(first.metrics)
(True, False, True, ['tool.error_rate{tool=etl}', 'tool.latency_ms{tool=etl}'])
>>> latest = {"tool.error_rate{tool=etl}": 0.6, "tool.latency_ms{tool=etl}": 51.0}
>>> tr.due(150.0, latest.get)  # the error rate is still high
[]
>>> latest["tool.error_rate{tool=etl}"] = 0.03
>>> tr.due(195.0, latest.get), [i.subject for i in tr.due(260.0, latest.get)]
([], ['tool=etl'])
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

#: Labels that name the subject of a metric, most specific first.
SUBJECT_LABELS = ("tool", "module", "agent")
#: Subjects of these kinds are the workloads; any other subject is machinery they run on.
WORKLOAD_KINDS = ("tool=", "module=")


def subject_of(metric: str) -> str:
    """The subject a metric key belongs to.

    >>> subject_of("tool.calls{tool=etl}"), subject_of("agent.rss_mb{agent=a1,host=h}")
    ('tool=etl', 'agent=a1')
    >>> subject_of("host.cpu_percent")
    'host.cpu_percent'
    """
    if "{" not in metric or not metric.endswith("}"):
        return metric
    labels = dict(
        part.split("=", 1) for part in metric[metric.index("{") + 1 : -1].split(",") if "=" in part
    )
    for name in SUBJECT_LABELS:
        if name in labels:
            return f"{name}={labels[name]}"
    return metric


@dataclass(slots=True)
class OpenIncident:
    """An episode in progress; ``opened_at`` with ``subject`` identifies it."""

    subject: str
    opened_at: float
    last_at: float
    metrics: set[str] = field(default_factory=set)
    bands: dict[str, tuple[float, float]] = field(default_factory=dict)
    anomalies: int = 0
    peak: float = 0.0
    normal_since: float | None = None
    #: where each settling metric stood when it last moved by more than its band
    anchors: dict[str, tuple[float, float]] = field(default_factory=dict)


class IncidentTracker:
    """Open incidents by subject; see the module docstring."""

    def __init__(self, quiet_s: float = 60.0, fold_s: float = 60.0) -> None:
        self.quiet_s = quiet_s
        self.fold_s = fold_s
        self._open: dict[str, OpenIncident] = {}
        self._folded: dict[str, str] = {}  # subject -> the subject of the incident it joined
        self._joined: dict[str, list[str]] = {}  # subject -> the subjects that joined it
        # the open incidents of each kind (workload or not) as (opened_at, order, subject),
        # sorted: a fold looks one up by time instead of scanning every open incident
        self._by_time: dict[bool, list[tuple[float, int, str]]] = {True: [], False: []}
        self._entry: dict[str, tuple[float, int, str]] = {}
        self._order = 0

    def open(self) -> list[OpenIncident]:
        return list(self._open.values())

    def _incident_of(self, subject: str, t: float) -> OpenIncident | None:
        """The open incident ``subject`` belongs to (its own, one it folded into, or a
        fresh one of a related subject it folds into now)."""
        inc = self._open.get(subject) or self._open.get(self._folded.get(subject, ""))
        if inc is not None:
            return inc
        # the other kind's incident opened latest at most fold_s before t (the first
        # opened of those opened at that time)
        others = self._by_time[not subject.startswith(WORKLOAD_KINDS)]
        i = bisect_right(others, (t, math.inf))
        if i == 0 or t - others[i - 1][0] > self.fold_s:
            return None
        inc = self._open[others[bisect_left(others, (others[i - 1][0],))][2]]
        self._fold(subject, inc.subject)
        return inc

    def _fold(self, subject: str, into: str) -> None:
        self._folded[subject] = into
        self._joined.setdefault(into, []).append(subject)

    def _track(self, inc: OpenIncident) -> None:
        if inc.subject in self._entry:
            self._untrack(inc.subject)
        self._open[inc.subject] = inc
        self._order += 1
        entry = self._entry[inc.subject] = (inc.opened_at, self._order, inc.subject)
        insort(self._by_time[inc.subject.startswith(WORKLOAD_KINDS)], entry)

    def on_anomaly(
        self, metric: str, t: float, score: float, band: tuple[float, float] | None = None
    ) -> tuple[OpenIncident, bool]:
        """The incident this anomaly belongs to, and whether it was opened by it.

        ``band`` is the metric's normal ``(level, half_width)`` before this anomaly
        (kept from the metric's first anomaly in the incident)."""
        subject = subject_of(metric)
        inc = self._incident_of(subject, t)
        opened = inc is None
        if inc is None:
            inc = OpenIncident(subject, t, t)
            self._track(inc)
        inc.last_at = max(inc.last_at, t)
        inc.metrics.add(metric)
        if band is not None and metric not in inc.bands:
            inc.bands[metric] = band
        inc.anomalies += 1
        inc.peak = max(inc.peak, score)
        inc.normal_since = None
        return inc, opened

    def restore(self, inc: OpenIncident) -> None:
        """Track an incident read back from the store (after a restart)."""
        self._track(inc)
        for metric in inc.metrics:
            subject = subject_of(metric)
            if subject != inc.subject:
                self._fold(subject, inc.subject)

    def _untrack(self, subject: str) -> None:
        entry = self._entry.pop(subject)
        by_time = self._by_time[subject.startswith(WORKLOAD_KINDS)]
        del by_time[bisect_left(by_time, entry)]

    def _drop(self, subject: str) -> None:
        del self._open[subject]
        self._untrack(subject)
        for folded in self._joined.pop(subject, ()):
            if self._folded.get(folded) == subject:
                del self._folded[folded]

    def forget(self, subject: str, opened_at: float) -> bool:
        """Stop tracking an incident closed by hand; True if it was tracked."""
        inc = self._open.get(subject)
        if inc is None or inc.opened_at != opened_at:
            return False
        self._drop(subject)
        return True

    def due(self, now: float, latest: Callable[[str], float | None]) -> list[OpenIncident]:
        """Incidents that resolve now (and are no longer tracked); ``latest(metric)`` is
        the metric's latest sample (None: gone, counts as normal)."""
        out: list[OpenIncident] = []
        for subject, inc in list(self._open.items()):
            if all(_normal(inc, m, latest(m), now) for m in inc.metrics):
                if inc.normal_since is None:
                    inc.normal_since = now
            else:
                inc.normal_since = None
            quiet = now - inc.last_at >= self.quiet_s
            if quiet and inc.normal_since is not None and now - inc.normal_since >= self.quiet_s:
                self._drop(subject)
                out.append(inc)
        return out


def retains(metric: str) -> bool:
    """Whether ``metric`` is resident memory, which a process keeps after a leak stops.

    >>> retains("agent.rss_mb{agent=a1}"), retains("tool.latency_ms{tool=rss_feed}")
    (True, False)
    """
    return "rss" in metric.split("{", 1)[0].rsplit(".", 1)[-1]


def _normal(inc: OpenIncident, metric: str, value: float | None, now: float) -> bool:
    """``metric`` of ``inc`` is back to normal at this check: inside its band, or for
    resident memory settled (within the band's half-width of where it stood at an
    earlier check; a larger move sets that mark again)."""
    band = inc.bands.get(metric)
    if value is None or band is None:
        return True
    level, half = band
    if abs(value - level) <= half:
        inc.anchors.pop(metric, None)
        return True
    if not retains(metric):
        return False
    mark = inc.anchors.get(metric)
    if mark is None or abs(value - mark[1]) > half:
        inc.anchors[metric] = (now, value)
        return False
    return now > mark[0]


class Rearming(Protocol):
    """What :func:`resolve_due` needs of the anomaly engine."""

    def last_value(self, metric: str) -> float | None: ...

    def rearm(self, metric: str) -> bool: ...


def resolve_due(tracker: IncidentTracker, engine: Rearming, now: float) -> list[OpenIncident]:
    """The incidents that resolve at ``now``; each of their metrics is re-armed (the
    episode's extremes stop counting as normal), so the same fault coming back alerts
    again. The live hub and the NAB harness both resolve through this."""
    due = tracker.due(now, engine.last_value)
    for inc in due:
        for metric in inc.metrics:
            engine.rearm(metric)
    return due
