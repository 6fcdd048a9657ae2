"""Per-metric detector and sensitivity through the facade: permission-checked, audited,
persisted (a restart keeps them), applied to the live engine; and bad input statuses."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.errors import PermissionDeniedError, ValidationError
from chimera_engine.metrics.settings import MetricSettings, alert_threshold
from chimera_engine.node import HeartNode

PASSWORD = "correct horse battery staple"


def node_for(tmp_path: Path) -> HeartNode:
    settings = load_settings(
        data_dir=tmp_path / "data",
        use_default_file=False,
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_TOOLS__WATCH": "false"},
    )
    return HeartNode(settings)


async def test_configure_applies_audits_and_survives_a_restart(tmp_path: Path) -> None:
    async with node_for(tmp_path) as node:
        admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
        node.hub.record("queue.depth", 1.0, None, time.time())
        before = await node.facade.metrics.metric_settings(admin, "queue.depth")
        assert before == MetricSettings()
        changed = await node.facade.metrics.configure_metric(
            admin, "queue.depth", detector="zscore", sensitivity=0.9, thresholds=[50.0]
        )
        assert (changed.detector, changed.sensitivity, changed.thresholds) == (
            "zscore",
            0.9,
            (50.0,),
        )
        assert changed.updated_by == "admin"
        config = node.hub.engine.effective_config("queue.depth")
        assert config.alert_threshold == alert_threshold(0.9) < 0.6
        assert config.weights == (1.0, 0.0, 0.0, 0.0, 0.0)
        assert node.hub.engine.thresholds("queue.depth") == [50.0]
        # Leaving an argument out keeps it; thresholds=None goes back to the defaults.
        again = await node.facade.metrics.configure_metric(admin, "queue.depth", sensitivity=0.2)
        assert (again.detector, again.thresholds) == ("zscore", (50.0,))
        entries = await node.security.audit.query(AuditQuery(action_prefix="metric.configure"))
        assert [e.target for e in entries] == ["metric:queue.depth"] * 2
        # A metric configured before it ever reports gets its settings when it appears.
        await node.facade.metrics.configure_metric(admin, "later.metric", detector="trend")
        await node.facade.admin.create_user(admin, "olga", PASSWORD, "observer")
        olga = (await node.facade.sessions.login("olga", PASSWORD)).principal
        with pytest.raises(PermissionDeniedError):
            await node.facade.metrics.configure_metric(olga, "queue.depth", sensitivity=1.0)
        assert (await node.facade.metrics.metric_settings(olga, "queue.depth")).sensitivity == 0.2
        for bad in ({"detector": "magic"}, {"sensitivity": 1.5}, {"thresholds": [float("nan")]}):
            with pytest.raises(ValidationError):
                await node.facade.metrics.configure_metric(admin, "queue.depth", **bad)  # type: ignore[arg-type]

    async with node_for(tmp_path) as node:  # a restart on the same database
        admin = (await node.facade.sessions.login("admin", PASSWORD)).principal
        kept = await node.facade.metrics.metric_settings(admin, "queue.depth")
        assert (kept.detector, kept.sensitivity, kept.thresholds) == ("zscore", 0.2, (50.0,))
        node.hub.record("later.metric", 3.0, None, time.time())
        assert node.hub.engine.effective_config("later.metric").weights == (0, 0, 1.0, 0, 0)
        assert node.hub.engine.effective_config("queue.depth").alert_threshold == alert_threshold(
            0.2
        )
        back = await node.facade.metrics.configure_metric(admin, "queue.depth", thresholds=None)
        assert back.thresholds is None and node.hub.engine.thresholds("queue.depth") == []


async def test_acknowledge_unknown_anomaly_is_not_found(tmp_path: Path) -> None:
    from chimera_engine.errors import NotFoundError

    async with node_for(tmp_path) as node:
        admin = (await node.facade.sessions.create_first_admin("admin", PASSWORD)).principal
        with pytest.raises(NotFoundError):
            await node.facade.metrics.acknowledge_anomaly(admin, 12345)
