"""The limits on preventive learning: one open request, back-off, hourly budget."""

from __future__ import annotations

from chimera_engine.heal.throttle import Throttle


def test_one_open_request_per_module() -> None:
    t = Throttle(backoff_s=10, backoff_max_s=100, per_hour=10)
    t.opened("a", 0.0)
    refusal = t.refusal("a", 1.0)
    assert refusal is not None and refusal.cause == "open"
    assert t.refusal("b", 1.0) is None  # other modules are not held up
    assert t.closed("a", ok=True, now=2.0) is None
    assert t.refusal("a", 2.0) is None


def test_backoff_doubles_per_failure_up_to_the_cap_and_resets_on_success() -> None:
    t = Throttle(backoff_s=10, backoff_max_s=35, per_hour=100)
    ends = []
    now = 0.0
    for _ in range(4):
        t.opened("a", now)
        until = t.closed("a", ok=False, now=now)
        assert until is not None
        ends.append(until - now)
        refusal = t.refusal("a", until - 0.5)
        assert refusal is not None and refusal.cause == "backoff" and refusal.until == until
        now = until
    assert ends == [10, 20, 35, 35]
    assert t.refusal("a", now) is None
    t.opened("a", now)
    assert t.closed("a", ok=True, now=now) is None
    assert t.limits("a").failures == 0
    t.opened("a", now)
    assert t.closed("a", ok=False, now=now) == now + 10  # the streak starts again


def test_hourly_budget_is_a_sliding_window() -> None:
    t = Throttle(backoff_s=1, backoff_max_s=1, per_hour=2)
    t.opened("a", 0.0)
    t.closed("a", ok=True, now=1.0)
    t.opened("b", 100.0)
    t.closed("b", ok=True, now=101.0)
    refusal = t.refusal("c", 200.0)
    assert refusal is not None and refusal.cause == "budget" and refusal.until == 3600.0
    assert t.used(200.0) == 2
    assert t.refusal("c", 3600.5) is None and t.used(3600.5) == 1


def test_patches_not_made_for_a_request_hold_the_module_too() -> None:
    t = Throttle(backoff_s=1, backoff_max_s=1, per_hour=5)
    t.track_foreign("a", 7, open_=True)
    refusal = t.refusal("a", 0.0)
    assert refusal is not None and refusal.cause == "open" and "patch 7" in refusal.reason
    t.track_foreign("a", 7, open_=False)
    assert t.refusal("a", 0.0) is None
