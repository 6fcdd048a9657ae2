"""Tool health over the last minutes (errors and latency), not the lifetime ratio; the
Overview's last events without the engine's own traffic."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from app.shared.overview import audit_section
from app.shared.tool_health import recent_health
from chimera_engine.store.records import AuditEntry

NOW = 10_000.0


def series_of(
    data: dict[str, list[tuple[float, float]]],
) -> object:
    def series(key: str, since: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        points = [(t, v) for t, v in data.get(key, []) if t >= since]
        t = np.array([p[0] for p in points], dtype=np.float64)
        v = np.array([p[1] for p in points], dtype=np.float64)
        return t, v

    return series


def tool_samples(errors: float, latency: float, start: float, end: float) -> dict[str, list]:
    ts = np.arange(start, end, 1.0)
    return {
        "tool.calls{tool=t}": [(t, 2.0) for t in ts],
        "tool.error_rate{tool=t}": [(t, errors) for t in ts],
        "tool.latency_ms{tool=t}": [(t, latency) for t in ts],
    }


def merged(*parts: dict[str, list]) -> dict[str, list]:
    out: dict[str, list] = {}
    for part in parts:
        for key, points in part.items():
            out.setdefault(key, []).extend(points)
    return out


def test_a_recovered_tool_is_healthy_now() -> None:
    data = merged(
        tool_samples(1.0, 20.0, NOW - 1000, NOW - 300),  # failing, ten minutes ago
        tool_samples(0.0, 20.0, NOW - 300, NOW),
    )
    health = recent_health(series_of(data), lambda _k: [], ["t"], NOW)["t"]  # type: ignore[arg-type]
    assert health.calls == 240 and health.error_rate == 0.0 and not health.slow
    assert health.text().startswith("100.0% ok of 240 calls in 2 min · p50 20 ms")


def test_a_tool_that_just_became_slow_is_flagged() -> None:
    data = merged(
        tool_samples(0.0, 20.0, NOW - 1000, NOW - 60),
        tool_samples(0.0, 400.0, NOW - 60, NOW),  # no error at all, four hundred ms
    )
    health = recent_health(series_of(data), lambda _k: [], ["t"], NOW)["t"]  # type: ignore[arg-type]
    assert health.error_rate == 0.0 and health.slow
    assert "(usually 20 ms)" in health.text()
    limited = recent_health(series_of(data), lambda _k: [1000.0], ["t"], NOW)["t"]  # type: ignore[arg-type]
    assert limited.threshold_ms == 1000.0


def test_unknown_tool_and_no_calls() -> None:
    data = tool_samples(0.0, 20.0, NOW - 1000, NOW - 600)
    found = recent_health(series_of(data), lambda _k: [], ["t", "missing"], NOW)  # type: ignore[arg-type]
    assert set(found) == {"t"}
    assert found["t"].calls == 0 and math.isnan(found["t"].latency_ms)
    assert found["t"].text() == "no calls in 2 min"


def entry(seq: int, actor: str, action: str) -> AuditEntry:
    return AuditEntry(
        seq=seq, ts=NOW + seq, actor=actor, role="", action=action, target="x",
        outcome="ok", detail={}, prev_hash="", hash="",
    )  # fmt: skip


def test_last_events_leave_out_system_actors() -> None:
    entries = [entry(3, "system:demo", "swarm.task.submit"), entry(2, "admin", "tool.reload")]
    entries += [entry(1, "system:demo", "swarm.task.submit")]
    section = audit_section(entries)
    assert [i.text.split("  ", 1)[1] for i in section.items] == ["admin · tool.reload x"]
    assert section.summary == "2 system events hidden"
    assert len(audit_section(entries, people_only=False).items) == 3


def test_doctests_of_the_board_and_health_modules() -> None:
    import doctest

    import app.panels.metrics.render
    import app.panels.metrics.view
    import app.shared.tool_health

    for module in (app.shared.tool_health, app.panels.metrics.view, app.panels.metrics.render):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
