"""Events of the demo: a fault changed state."""

from __future__ import annotations

from dataclasses import dataclass

from chimera_engine.events import Event


@dataclass(frozen=True, kw_only=True)
class DemoFaultChanged(Event):
    """Fault ``name`` entered ``state`` (idle, active, degraded, recovered);
    ``actor`` is who started or stopped it ("" when the symptom or the recovery
    was observed)."""

    name: str
    state: str
    actor: str = ""
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class DemoWorkloadChanged(Event):
    """The workload entered ``state`` (running, paused, stopped)."""

    state: str
    actor: str = ""
