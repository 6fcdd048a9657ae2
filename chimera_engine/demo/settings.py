"""DemoSettings: the ``[demo]`` section of the configuration.

Only scalar fields, so the engine's TOML/environment loader reads it as is
(``CHIMERA_DEMO__RATE=10``). Times are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DemoSettings:
    """The demo workload and its fault schedule.

    ``enabled`` unset (the default) means: on when the engine runs the bundled
    demo workspace (no ``engine.workspace`` configured), off otherwise.
    ``rate`` is normal tool calls per second. ``faults`` turns the fault
    schedule on: the first fault ``first_fault`` seconds after the workload
    starts, the next ``fault_interval`` seconds after the previous one ended;
    each scheduled fault is stopped once recovered (after ``fault_hold``
    seconds) or after ``fault_max`` seconds. ``agents`` is the number of swarm
    agents the demo keeps (one analyzer, the rest executors; 0: none).
    ``start_delay`` is the pause between engine start and the first call.
    """

    enabled: bool | None = None
    rate: float = 5.0
    faults: bool = True
    first_fault: float = 45.0
    fault_interval: float = 120.0
    fault_max: float = 240.0
    fault_hold: float = 15.0
    agents: int = 2
    swarm_share: float = 0.1
    start_delay: float = 5.0

    def active(self, demo_workspace: bool) -> bool:
        """Whether the workload starts with the engine."""
        return demo_workspace if self.enabled is None else self.enabled
