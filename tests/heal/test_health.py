"""The health model of one tool version and how failures are told apart."""

from __future__ import annotations

import traceback
from pathlib import Path

from chimera_engine.heal.health import (
    FailureEvidence,
    SignalEvidence,
    VersionHealth,
    failure_location,
    is_bad_direction,
    split_metric,
)


def real_traceback(tmp_path: Path) -> str:
    """A traceback from a tool module file (tools/mathy.py) called from elsewhere."""
    path = tmp_path / "tools" / "mathy.py"
    path.parent.mkdir()
    path.write_text("def ratio(a, b):\n    x = a\n    return x / b\n")
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    try:
        namespace["ratio"](1, 0)  # type: ignore[operator]
    except ZeroDivisionError as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError("no error")


def test_failure_location_is_the_deepest_frame_of_the_module(tmp_path: Path) -> None:
    text = real_traceback(tmp_path)
    assert failure_location(text, "mathy") == "mathy.py:3 in ratio"
    assert failure_location(text, "other").endswith("in ratio")  # the deepest frame at all
    assert failure_location("", "mathy") == ""


def failure(location: str, exc: str = "ZeroDivisionError") -> FailureEvidence:
    return FailureEvidence(
        at=1.0,
        tool="ratio",
        exception_type=exc,
        message="",
        location=location,
        args={},
        traceback="",
    )


def test_signatures_count_type_and_location() -> None:
    h = VersionHealth(tool="ratio", module="mathy", version=1, since=0.0)
    assert h.add_failure(failure("mathy.py:3 in ratio")) == 1
    assert h.add_failure(failure("mathy.py:3 in ratio")) == 2
    assert h.add_failure(failure("mathy.py:9 in ratio")) == 1
    assert h.add_failure(failure("mathy.py:3 in ratio", "TypeError")) == 1
    assert h.top_signature() == ("ZeroDivisionError at mathy.py:3 in ratio", 2)


def test_confidence_follows_successes_and_fading_anomalies() -> None:
    h = VersionHealth(tool="ratio", module="mathy", version=1, since=0.0)
    kw = {"anomaly_weight": 0.5, "memory_s": 100.0}
    assert h.state(0.0, threshold=0.6, **kw) == "unknown"
    for _ in range(10):
        h.observe_call(ok=True, duration_s=0.002, alpha=0.2)
    assert h.confidence(0.0, **kw) == 1.0 and h.state(0.0, threshold=0.6, **kw) == "healthy"
    assert h.latency_ms_p50 == 2.0
    h.add_signal(
        SignalEvidence(at=0.0, kind="anomaly", metric="m", summary="", score=0.8, bad=True)
    )
    assert h.confidence(0.0, **kw) == 0.6  # 1 - 0.5 * 0.8
    assert h.state(0.0, threshold=0.5, **kw) == "degraded"
    assert h.confidence(50.0, **kw) == 0.8  # half faded
    assert h.confidence(100.0, **kw) == 1.0  # forgotten
    h.add_signal(
        SignalEvidence(at=100.0, kind="anomaly", metric="m", summary="", score=1, bad=False)
    )
    assert h.confidence(100.0, **kw) == 1.0  # a good move costs nothing
    for _ in range(10):
        h.observe_call(ok=False, duration_s=0.002, alpha=0.2)
    assert h.success_rate == 0.5 and h.state(100.0, threshold=0.6, **kw) == "failing"


def test_metric_names_and_directions() -> None:
    assert split_metric("tool.error_rate{module=m,tool=x}") == (
        "tool.error_rate",
        {"module": "m", "tool": "x"},
    )
    assert split_metric("host.cpu_percent") == ("host.cpu_percent", {})
    assert is_bad_direction("tool.latency_ms", rising=True) is True
    assert is_bad_direction("tool.error_rate", rising=False) is False
    assert is_bad_direction("tool.confidence", rising=False) is True
    assert is_bad_direction("tool.calls", rising=True) is None
