"""One fault, one incident: a tool's surge and the leak of the agent running it fold
into one episode, which resolves once the leak has stopped (memory is not given back)."""

from __future__ import annotations

import random

from chimera_engine.anomaly.incidents import (
    WORKLOAD_KINDS,
    IncidentTracker,
    OpenIncident,
    subject_of,
)

CALLS = "tool.calls{tool=validate_json}"
RSS = "agent.rss_mb{agent=a1,role=analyzer}"
OTHER_TOOL = "tool.error_rate{tool=clean_csv}"


def _leak(tr: IncidentTracker, fixed_at: float, until: float) -> tuple[list[str], float | None]:
    """Calls surge and memory grows 0.5 MB/s from t=0 until ``fixed_at``, checks every
    5 s: the subjects resolved and when."""
    tr.on_anomaly(CALLS, 0.0, 0.9, (1.25, 5.0))
    tr.on_anomaly(RSS, 4.0, 0.8, (42.0, 2.1))
    rss = 44.0
    for now in range(5, int(until), 5):
        rss += 2.5 if now <= fixed_at else 0.0
        calls = 21.0 if now <= fixed_at else 1.0
        values = {CALLS: calls, RSS: rss}
        done = tr.due(float(now), values.get)
        if done:
            return [i.subject for i in done], float(now)
    return [], None


def test_a_leak_and_the_surge_of_its_tool_are_one_incident_closed_after_the_fix() -> None:
    tr = IncidentTracker(quiet_s=60.0)
    inc, opened = tr.on_anomaly(CALLS, 0.0, 0.9, (1.25, 5.0))
    same, again = tr.on_anomaly(RSS, 4.0, 0.8, (42.0, 2.1))
    assert opened and not again and same is inc
    assert sorted(inc.metrics) == sorted([CALLS, RSS]) and len(tr.open()) == 1
    # a later anomaly of the folded subject still joins it, past the fold window
    later, new = tr.on_anomaly(RSS, 300.0, 0.7, None)
    assert later is inc and not new


def test_the_episode_resolves_within_two_minutes_of_the_fix_though_memory_stays_up() -> None:
    subjects, at = _leak(IncidentTracker(quiet_s=60.0), fixed_at=180.0, until=600.0)
    assert subjects == ["tool=validate_json"]
    assert at is not None and 180.0 < at <= 180.0 + 120.0


def test_a_leak_that_keeps_growing_never_resolves() -> None:
    subjects, at = _leak(IncidentTracker(quiet_s=60.0), fixed_at=10_000.0, until=900.0)
    assert (subjects, at) == ([], None)


def test_a_slow_leak_under_its_floor_a_minute_does_not_count_as_settled_for_long() -> None:
    tr = IncidentTracker(quiet_s=60.0)
    tr.on_anomaly(RSS, 0.0, 0.8, (42.0, 2.1))
    rss, resolved = 60.0, []
    for now in range(65, 1200, 5):
        rss += 0.25  # 3 MB a minute: past the 2.1 MB half-width within each minute
        resolved += tr.due(float(now), {RSS: rss}.get)
    assert resolved == []


def test_a_tool_metric_stuck_high_is_not_settled() -> None:
    """Only resident memory settles at a new level; a flat 100% error rate is a fault."""
    tr = IncidentTracker(quiet_s=60.0)
    tr.on_anomaly(OTHER_TOOL, 0.0, 0.9, (0.02, 0.05))
    assert all(not tr.due(float(now), {OTHER_TOOL: 1.0}.get) for now in range(65, 900, 5))


def test_two_tools_failing_together_are_two_incidents() -> None:
    tr = IncidentTracker(quiet_s=60.0)
    _, first = tr.on_anomaly(CALLS, 0.0, 0.9, (1.25, 5.0))
    _, second = tr.on_anomaly(OTHER_TOOL, 2.0, 0.9, (0.02, 0.05))
    assert first and second and len(tr.open()) == 2


def test_machinery_folds_only_into_a_fresh_incident() -> None:
    tr = IncidentTracker(quiet_s=60.0, fold_s=60.0)
    tr.on_anomaly(CALLS, 0.0, 0.9, (1.25, 5.0))
    _, opened = tr.on_anomaly(RSS, 61.0, 0.8, (42.0, 2.1))
    assert opened and len(tr.open()) == 2


def test_a_restored_incident_keeps_its_folded_subjects() -> None:
    tr = IncidentTracker()
    tr.restore(OpenIncident("tool=validate_json", 0.0, 4.0, {CALLS, RSS}, 2, 0.9))
    inc, opened = tr.on_anomaly(RSS, 500.0, 0.8, None)
    assert not opened and inc.subject == "tool=validate_json"
    assert tr.forget("tool=validate_json", 0.0)
    _, opened = tr.on_anomaly(RSS, 900.0, 0.8, None)
    assert opened


class _Scanning(IncidentTracker):
    """The tracker as it was: a fold scans every open incident (quadratic when thousands
    of subjects alert in one batch: 5,000 took 1.5 s of loop time)."""

    def _incident_of(self, subject: str, t: float) -> OpenIncident | None:
        inc = self._open.get(subject) or self._open.get(self._folded.get(subject, ""))
        if inc is not None:
            return inc
        workload = subject.startswith(WORKLOAD_KINDS)
        fresh = [
            i
            for i in self._open.values()
            if 0.0 <= t - i.opened_at <= self.fold_s
            and workload != i.subject.startswith(WORKLOAD_KINDS)
        ]
        if not fresh:
            return None
        inc = max(fresh, key=lambda i: i.opened_at)
        self._folded[subject] = inc.subject
        return inc

    def _track(self, inc: OpenIncident) -> None:
        self._open[inc.subject] = inc

    def _drop(self, subject: str) -> None:
        del self._open[subject]
        for folded in [k for k, v in self._folded.items() if v == subject]:
            del self._folded[folded]


def test_folds_found_by_time_are_the_folds_a_scan_finds() -> None:
    """Random anomalies of tools, agents and bare metrics, times out of order and tied,
    incidents resolving and closed by hand: the same incidents as the full scan."""
    rng = random.Random(5)
    subjects = [f"tool.calls{{tool=t{j}}}" for j in range(12)]
    subjects += [f"agent.rss_mb{{agent=a{j}}}" for j in range(8)]
    subjects += [f"host.m{j}" for j in range(8)]
    fast, scan = IncidentTracker(quiet_s=30.0), _Scanning(quiet_s=30.0)
    now, folds = 0.0, 0
    for step in range(3000):
        now += rng.choice([0.0, 0.0, 0.0, 5.0])
        metric = rng.choice(subjects)
        t = now - rng.choice([0.0, 0.0, 3.0, 70.0])
        a, opened_a = fast.on_anomaly(metric, t, 0.9, (1.0, 0.5))
        b, opened_b = scan.on_anomaly(metric, t, 0.9, (1.0, 0.5))
        assert (a.subject, a.opened_at, opened_a) == (b.subject, b.opened_at, opened_b)
        folds += a.subject != subject_of(metric)
        if step % 7 == 0:
            latest = {m: rng.choice([1.0, 9.0]) for m in subjects}.get
            got = [(i.subject, i.opened_at) for i in fast.due(now + 40.0, latest)]
            assert got == [(i.subject, i.opened_at) for i in scan.due(now + 40.0, latest)]
        if step % 50 == 0 and fast.open():
            inc = rng.choice(fast.open())
            assert fast.forget(inc.subject, inc.opened_at)
            assert scan.forget(inc.subject, inc.opened_at)
    assert fast._folded == scan._folded and folds > 100
