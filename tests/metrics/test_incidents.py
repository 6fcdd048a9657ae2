"""Incidents: one per episode of a tool across its metrics; resolved by itself once
back to normal; closed in bulk by an operator; open ones survive a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.config import load_settings
from chimera_engine.errors import PermissionDeniedError
from chimera_engine.events import AnomalyAcknowledged, IncidentChanged
from chimera_engine.metrics.incidents import AUTO_ACTOR
from chimera_engine.node import HeartNode
from chimera_engine.security.manager import Session
from tests.conftest import ADMIN_PASSWORD

T0 = 1.7e9


def _settings(tmp_path: Path) -> object:
    return load_settings(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        use_default_file=False,
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_TOOLS__WATCH": "false"},
    )


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[HeartNode, Session]]:
    (tmp_path / "ws").mkdir()
    async with HeartNode(_settings(tmp_path)) as node:  # type: ignore[arg-type]
        yield node, await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)


def _feed(node: HeartNode, start: int, stop: int, fault: range) -> None:
    """A tool's error rate and latency at 1 Hz; both jump during ``fault``."""
    rng = np.random.default_rng(start)
    labels = {"tool": "etl"}
    for i in range(start, stop):
        bad = i in fault
        err = (0.6 if bad else 0.02) + float(rng.normal(0.0, 0.005))
        lat = (400.0 if bad else 50.0) + float(rng.normal(0.0, 2.0))
        node.hub.record("tool.error_rate", err, labels, T0 + i)
        node.hub.record("tool.latency_ms", lat, labels, T0 + i)


async def _run(node: HeartNode, start: int, stop: int, fault: range) -> float | None:
    """Feed and run the incident clock every 5 s of sample time; when something resolved."""
    for i in range(start, stop, 5):
        _feed(node, i, i + 5, fault)
        await node.hub.flush()
        if await node.hub.incidents.tick(T0 + i + 5, node.hub.engine):
            return T0 + i + 5
    return None


async def test_one_incident_per_episode_resolved_once_back_to_normal(
    env: tuple[HeartNode, Session],
) -> None:
    node, admin = env
    opened = node.bus.subscribe(IncidentChanged)
    fault = range(1700, 1760)
    _feed(node, 0, 1700, fault)
    assert await _run(node, 1700, 1760, fault) is None, "still faulty: nothing resolves"
    anomalies = await node.facade.metrics.list_anomalies(admin.principal)
    assert len(anomalies) >= 2, "both metrics alert"
    assert {a.metric.split("{")[0] for a in anomalies} == {"tool.error_rate", "tool.latency_ms"}
    (incident,) = await node.facade.metrics.list_incidents(admin.principal)
    assert incident.open and incident.subject == "tool=etl"
    assert {a.incident_id for a in anomalies} == {incident.id}
    assert sorted(incident.metrics) == ["tool.error_rate{tool=etl}", "tool.latency_ms{tool=etl}"]
    assert (await opened.get()).state == "opened"

    # Recovered at 1760: resolved after a while back to normal, within 2 minutes.
    resolved_at = await _run(node, 1760, 1960, fault)
    assert resolved_at is not None
    assert 60.0 <= resolved_at - (T0 + 1760) <= 120.0
    (incident,) = await node.facade.metrics.list_incidents(admin.principal)
    assert not incident.open and incident.resolved_by == "auto"
    stored = await node.facade.metrics.list_anomalies(admin.principal)
    assert {a.acknowledged_by for a in stored} == {AUTO_ACTOR}


async def test_close_all_open_incidents_by_hand(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    acks = node.bus.subscribe(AnomalyAcknowledged)
    _feed(node, 0, 1760, fault=range(1700, 1760))
    await node.hub.flush()
    (incident,) = await node.facade.metrics.list_incidents(admin.principal, open_only=True)
    closed = await node.facade.metrics.close_incidents(admin.principal)
    assert [c.id for c in closed] == [incident.id] and closed[0].resolved_by == "admin"
    assert not await node.facade.metrics.list_incidents(admin.principal, open_only=True)
    assert {
        a.acknowledged_by for a in await node.facade.metrics.list_anomalies(admin.principal)
    } == {"admin"}
    assert (await acks.get()).actor == "admin"
    assert await node.facade.metrics.close_incidents(admin.principal) == [], "nothing left to close"
    entries = await node.security.audit.query(AuditQuery(action_prefix="incident.close"))
    assert [e.detail.get("count") for e in entries] == [0, 1]
    # A new fault after the close opens a new incident.
    _feed(node, 1760, 1900, fault=range(1860, 1900))
    await node.hub.flush()
    assert len(await node.facade.metrics.list_incidents(admin.principal, open_only=True)) == 1


async def test_an_observer_cannot_close_incidents(env: tuple[HeartNode, Session]) -> None:
    node, admin = env
    await node.facade.admin.create_user(admin.principal, "olga", ADMIN_PASSWORD, "observer")
    olga = await node.facade.sessions.login("olga", ADMIN_PASSWORD)
    with pytest.raises(PermissionDeniedError):
        await node.facade.metrics.close_incidents(olga.principal)
    assert await node.facade.metrics.list_incidents(olga.principal) == []


async def test_open_incidents_survive_a_restart(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    async with HeartNode(_settings(tmp_path)) as node:  # type: ignore[arg-type]
        admin = await node.facade.sessions.create_first_admin("admin", ADMIN_PASSWORD)
        _feed(node, 0, 1760, fault=range(1700, 1760))
        await node.hub.flush()
        assert len(await node.facade.metrics.list_incidents(admin.principal, open_only=True)) == 1
    async with HeartNode(_settings(tmp_path)) as node:  # type: ignore[arg-type]
        assert await node.hub.incidents.restore() == 1
        (inc,) = node.hub.incidents.tracker.open()
        assert inc.subject == "tool=etl" and len(inc.metrics) == 2
