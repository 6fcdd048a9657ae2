"""Scenario 1, self-healing, end to end on the demo workspace.

A tool degrades -> metacognition notices (a repeating failure, or an anomaly or
forecast on the tool's metrics) -> it asks the code generator for a fix with
the evidence attached -> the replay provider answers with a fix and tests ->
the sandbox runs them -> an operator approves (or the policy does) -> hot
reload applies it -> the failures stop, without a restart. A patch that makes
the tool worse is rolled back during its watch window, and metacognition backs
off before it asks again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.demo import inputs
from chimera_engine.events import (
    AnomalyDetected,
    LearningDeferred,
    LearningFinished,
    LearningRequested,
    PatchChanged,
)
from chimera_engine.modules.models import Origin
from chimera_engine.patches.configure import default_transcript
from chimera_engine.patches.models import PatchState
from tests.integration.healing import Recorder, Rig, healing_engine, keep_calling, linked_request

pytestmark = pytest.mark.slow

CSV_ERROR = "ValueError: row 1 has 2 cells but the header has 1"


async def fail_on_exports(rig: Rig, n: int = 3) -> None:
    for _ in range(n):
        ok, error = await rig.semicolon_export()
        assert not ok
        assert "but the header has 1" in str(error)


def check_sandbox_verdict(result: dict[str, object]) -> None:
    """New tests failed before the patch and pass after it; the old ones still pass."""
    assert result["fail_to_pass"] and all(t["outcome"] == "passed" for t in result["fail_to_pass"])  # type: ignore[attr-defined]
    assert all(t["outcome"] == "failed" for t in result["before"])  # type: ignore[attr-defined]
    assert result["pass_to_pass"] and all(t["outcome"] == "passed" for t in result["pass_to_pass"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("approval", ["operator", "policy"])
async def test_ai_self_healing_workflow(tmp_path: Path, approval: str) -> None:
    env = (
        {"CHIMERA_CODEGEN__AUTO_APPROVE": "true", "CHIMERA_CODEGEN__AUTO_APPROVE_MAX_LINES": "60"}
        if approval == "policy"
        else {}
    )
    async with healing_engine(tmp_path, **env) as rig:
        node, operator = rig.node, rig.operator.principal
        events = Recorder(
            node.bus, LearningRequested, LearningDeferred, LearningFinished, PatchChanged
        )
        for _ in range(5):
            assert (await rig.orders())[0]

        # the tool starts raising on a new input shape; metacognition notices
        await fail_on_exports(rig)
        requested = await events.wait(LearningRequested)
        assert (requested.module, requested.tool) == ("csv_cleaner", "clean_csv")
        assert requested.trigger == "failure_pattern"
        assert requested.reason.startswith("ValueError at csv_cleaner.py:")
        assert any(CSV_ERROR.split(": ", 1)[1] in e for e in requested.evidence)

        # the replay provider's fix is tested in the sandbox (and, by policy, applied)
        wanted = "ready" if approval == "operator" else "applied"
        changed = await events.wait(
            PatchChanged, lambda e: e.module == "csv_cleaner" and e.state == wanted
        )
        patch, _ = await node.facade.patches.get_patch(operator, changed.patch_id)
        assert patch.replay and patch.provider == "replay"  # labelled as a replay
        assert CSV_ERROR.split(": ", 1)[1] in patch.signature  # the failures were attached
        assert "tests/test_csv_cleaner_exports.py" in patch.tests
        assert patch.result is not None
        check_sandbox_verdict(patch.result)

        # the decision and the request are audited as the system principal
        view = await linked_request(rig, "clean_csv", requested.version)
        assert view.open_request is not None and view.open_request.patch_id == patch.id
        decided = await node.security.audit.query(AuditQuery(action_prefix="heal.request"))
        assert [(e.actor, e.target, e.detail["trigger"]) for e in decided] == [
            ("system:metacognition", "csv_cleaner", "failure_pattern")
        ]
        generated = await node.security.audit.query(AuditQuery(action_prefix="patch.generate"))
        assert generated[0].actor == "system:metacognition" and generated[0].detail["replay"]

        # the evidence is visible through the facade
        assert view.top_failure.startswith("ValueError at csv_cleaner.py:")
        assert view.failures[0].args["text"].startswith("\ufeffOrder ID;")
        assert "Traceback" in view.failures[0].traceback

        if approval == "operator":
            # while the patch waits for review, further failures ask for nothing new
            await fail_on_exports(rig)
            deferred = await events.wait(LearningDeferred, lambda e: e.module == "csv_cleaner")
            assert "still open" in deferred.reason
            applied = await node.facade.patches.approve_patch(operator, patch.id)
            assert applied.state is PatchState.APPLIED
            approver = "olga"
        else:
            applied, _ = await node.facade.patches.get_patch(operator, patch.id)
            approver = "system:auto-approve"
        approvals = await node.security.audit.query(AuditQuery(action_prefix="patch.approve"))
        assert [e.actor for e in approvals] == [approver]

        # hot reload: the fix serves at once, no restart, and the failures stop
        active = node.reload.registry.active["csv_cleaner"]
        assert active.version == applied.applied_version and active.origin is Origin.PATCH
        for _ in range(6):
            ok, result = await rig.semicolon_export()
            assert ok and result["columns"] == inputs.SEMICOLON_COLUMNS and result["rows"] == 12
            assert (await rig.orders())[0]
        assert active.errors == 0

        # the watch keeps the patch; metacognition closes the request without back-off
        finished = await events.wait(LearningFinished, lambda e: e.module == "csv_cleaner")
        assert finished.outcome == "kept", finished.reason
        assert (finished.patch_id, finished.backoff_until) == (patch.id, None)
        status = await node.facade.heal.status(operator)
        view = next(t for t in status.tools if t.tool == "clean_csv" and t.active)
        assert view.version == applied.applied_version and view.state == "healthy"
        assert view.open_request is None and view.failed_attempts == 0
        assert len(events.of(LearningRequested)) == 1 and status.requests_made == 1
        assert [p.module for p in await node.facade.patches.list_patterns(operator)] == [
            "csv_cleaner"
        ]
        events.close()


async def test_anomaly_triggers_learning(tmp_path: Path) -> None:
    async with healing_engine(
        tmp_path,
        CHIMERA_METRICS__ENABLED="true",
        CHIMERA_METRICS__TOOL_INTERVAL="0.05",
        CHIMERA_METRICS__PROCESS_INTERVAL="60",
        # only the metrics may call for a fix here, not the failures themselves
        CHIMERA_HEAL__REPEAT_FAILURES="1000",
        CHIMERA_HEAL__CONFIDENCE_THRESHOLD="0",
        CHIMERA_HEAL__LATENCY_FACTOR="0",
        CHIMERA_HEAL__FORECAST_TRIGGERS="false",
        CHIMERA_HEAL__ANOMALY_SCORE="0.95",  # a clear jump, not the jitter of a busy machine
    ) as rig:
        node, operator = rig.node, rig.operator.principal
        events = Recorder(
            node.bus, AnomalyDetected, LearningRequested, LearningDeferred, PatchChanged
        )
        error_rate = "tool.error_rate{tool=validate_json}"

        async def normal() -> None:
            assert (await rig.call("validate_json", inputs.json_check(rig.rng)))[0]

        async def nested() -> None:  # the demo's error_burst fault: a producer stuck in a loop
            fault = {"document": inputs.nested_document(), "schema": inputs.ORDER_SCHEMA}
            ok, error = await rig.call("validate_json", fault)
            assert not ok and "RecursionError" in str(error)

        async def samples() -> int:
            metrics = await node.facade.metrics.list_metrics(operator)
            return next((m.samples for m in metrics if m.key == error_rate), 0)

        sampled = 0

        async def count() -> None:
            nonlocal sampled
            sampled = await samples()

        # the detectors learn the tool's normal error rate (none)
        await keep_calling(rig, lambda: sampled >= 40, normal, count, seen=events)
        assert not events.of(LearningRequested)
        # the burst: the error rate jumps, an anomaly is raised, metacognition acts on it
        await keep_calling(
            rig, lambda: bool(events.of(LearningRequested)), nested, normal, seen=events
        )
        requested = events.of(LearningRequested)[0]
        assert (requested.module, requested.tool) == ("json_schema", "validate_json")
        assert requested.trigger == "anomaly" and "{tool=validate_json}" in requested.reason
        anomaly = next(e for e in events.of(AnomalyDetected) if e.event.metric in requested.reason)
        assert anomaly.event.value != anomaly.event.expected

        # the request carried the anomaly and the failing calls; the fix was tested
        ready = await events.wait(
            PatchChanged, lambda e: e.module == "json_schema" and e.state == "ready"
        )
        patch, _ = await node.facade.patches.get_patch(operator, ready.patch_id)
        assert requested.reason in patch.signature and "RecursionError" in patch.signature
        assert patch.replay and "nested too deeply" in patch.diff and patch.result is not None
        check_sandbox_verdict(patch.result)

        # another anomaly on the tool while the request is open makes no second request
        now = time.time()
        probe = {"tool": "validate_json", "probe": "synthetic"}
        series = [
            {"name": "tool.error_rate", "labels": probe, "value": 0.01 * (i % 3), "t": t}
            for i, t in enumerate(range(int(now) - 60, int(now) - 20))
        ]
        series.append({"name": "tool.error_rate", "labels": probe, "value": 0.9, "t": now})
        assert (await node.facade.metrics.push_metrics(operator, series)).anomalies == 1
        await events.wait(AnomalyDetected, lambda e: "probe=synthetic" in e.event.metric)
        deferred = await events.wait(LearningDeferred, lambda e: e.module == "json_schema")
        assert "still open" in deferred.reason
        for _ in range(10):
            await nested()
        status = await node.facade.heal.status(operator)
        view = next(t for t in status.tools if t.tool == "validate_json" and t.active)
        assert view.open_request is not None and view.open_request.patch_id == patch.id
        assert any("probe=synthetic" in s.metric and s.bad for s in view.signals)
        assert view.confidence < 1.0 and view.top_failure.startswith("RecursionError")
        assert len(events.of(LearningRequested)) == 1 and status.requests_made == 1
        made = await node.facade.patches.list_patches(operator)
        assert [p.id for p in made if p.module == "json_schema"] == [patch.id]

        # approved: the same documents are now refused as invalid, and nothing fails
        applied = await node.facade.patches.approve_patch(operator, patch.id)
        for _ in range(5):
            fault = {"document": inputs.nested_document(), "schema": inputs.ORDER_SCHEMA}
            ok, result = await rig.call("validate_json", fault)
            assert ok and result == {"valid": False, "errors": ["$: nested too deeply"]}
            await normal()
        active = node.reload.registry.active["json_schema"]
        assert active.version == applied.applied_version and active.errors == 0
        events.close()


WORSE_FIX = r"""The export's byte order mark and other non-ASCII bytes confuse the header: keep
the text ASCII, and split on ';' when the header has more of them than commas.

tools/csv_cleaner.py
<<<<<<< SEARCH
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
=======
    text = text.removeprefix("\ufeff").encode("ascii").decode("ascii")
    head = text.split("\n", 1)[0]
    if delimiter == "," and head.count(";") > head.count(","):
        delimiter = ";"
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
>>>>>>> REPLACE

```python
# file: tests/test_csv_cleaner_semicolons.py
from __future__ import annotations

from tools.csv_cleaner import clean_csv


def test_semicolon_export_is_split_into_columns() -> None:
    result = clean_csv("\ufeffOrder ID;Customer;Amount\r\n2000;Ada;12,50\r\n")
    assert result["columns"] == ["order_id", "customer", "amount"]
```
"""

ACCENTED = (
    "Order ID,Customer,Amount,Currency\n1000,José Núñez,12.50,EUR\n1001,Zoë Ørsted,3.10,DKK\n"
)


def regression_transcript(path: Path) -> Path:
    """A transcript whose first answer to the csv_shape failure passes its tests but
    breaks on live input (non-ASCII names); its second is the demo's correct fix."""
    demo = json.loads(default_transcript().read_text(encoding="utf-8"))
    good = next(e for e in demo["exchanges"] if e["fault"] == "csv_shape")
    worse = {"match": good["match"], "response": WORSE_FIX}
    path.write_text(json.dumps({"model": "regression", "exchanges": [worse, good]}))
    return path


async def test_patch_regression_rolls_back(tmp_path: Path) -> None:
    transcript = regression_transcript(tmp_path / "regression.json")
    async with healing_engine(
        tmp_path,
        CHIMERA_CODEGEN__TRANSCRIPT=str(transcript),
        CHIMERA_CODEGEN__AUTO_APPROVE="true",
        CHIMERA_CODEGEN__AUTO_APPROVE_MAX_LINES="60",
        CHIMERA_CODEGEN__WATCH_SECONDS="3",
        CHIMERA_HEAL__BACKOFF_SECONDS="3",
    ) as rig:
        node, operator = rig.node, rig.operator.principal
        events = Recorder(node.bus, LearningRequested, LearningDeferred, LearningFinished)
        changes = Recorder(node.bus, PatchChanged)
        for _ in range(20):  # customers with accented names are served fine
            assert (await rig.orders(ACCENTED))[0]
        base = node.reload.registry.active["csv_cleaner"].version
        await fail_on_exports(rig)

        # the first fix passes its tests and is auto-approved ...
        applied = await changes.wait(PatchChanged, lambda e: e.state == "applied")
        worse, _ = await node.facade.patches.get_patch(operator, applied.patch_id)
        assert 'encode("ascii")' in worse.diff
        check_sandbox_verdict(worse.result or {})
        assert (await rig.semicolon_export())[0]  # it does fix the exports

        # ... but live orders with accented names now fail: rolled back in the watch window
        for _ in range(6):
            assert not (await rig.orders(ACCENTED))[0]
        rolled = await changes.wait(
            PatchChanged, lambda e: e.patch_id == worse.id and e.state == "rolled_back"
        )
        assert "error rate rose" in rolled.reason
        restored = node.reload.registry.active["csv_cleaner"]
        assert restored.origin is Origin.ROLLBACK and restored.parent == base
        assert (await rig.orders(ACCENTED))[0]
        rollbacks = await node.security.audit.query(AuditQuery(action_prefix="patch.rollback"))
        assert rollbacks[0].actor == "system:patch-watch"

        # metacognition backs off: the failures go on, but no request until the back-off ends
        first = await events.wait(LearningFinished, lambda e: e.patch_id == worse.id)
        assert first.outcome == "rolled_back" and first.backoff_until is not None
        await fail_on_exports(rig)
        await events.wait(
            LearningDeferred, lambda e: e.reason.startswith("backing off after 1 failed attempt")
        )
        status = await node.facade.heal.status(operator)
        view = next(t for t in status.tools if t.tool == "clean_csv" and t.active)
        assert view.failed_attempts == 1 and view.backoff_until == first.backoff_until
        assert view.open_request is None and len(events.of(LearningRequested)) == 1

        # after the back-off the next failures ask again, and the correct fix is kept
        await keep_calling(
            rig, lambda: len(events.of(LearningRequested)) == 2, rig.semicolon_export, seen=events
        )
        second = events.of(LearningRequested)[1]
        assert second.ts >= first.backoff_until and second.version == restored.version
        kept = await events.wait(
            LearningFinished, lambda e: e.module == "csv_cleaner" and e.outcome == "kept"
        )
        fixed, _ = await node.facade.patches.get_patch(operator, kept.patch_id or 0)
        assert fixed.id != worse.id and "_detect_delimiter" in fixed.diff
        for _ in range(3):
            assert (await rig.orders(ACCENTED))[0] and (await rig.semicolon_export())[0]
        status = await node.facade.heal.status(operator)
        view = next(t for t in status.tools if t.tool == "clean_csv" and t.active)
        assert view.failed_attempts == 0 and view.backoff_until is None
        events.close()
        changes.close()
