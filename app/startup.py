"""The one place where the console meets the engine's node: it builds the bridge from it.

Only the start-up code (:mod:`app.main`, the self-test, scripts, benchmarks and
test fixtures) holds a :class:`~chimera_engine.node.HeartNode`; everything after
reaches the engine through the :class:`~app.bridge.EngineBridge` this returns.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from app.bridge import REFRESH_AT, EngineBridge, LocalReads
from chimera_engine.metrics.live import LiveMetrics
from chimera_engine.node import HeartNode

__all__ = ["bridge_for", "local_reads"]


def local_reads(node: HeartNode) -> LocalReads:
    """The in-process reads the console makes of ``node`` (see :class:`LocalReads`)."""

    def api_address() -> tuple[int, str] | None:
        api = node.api
        return (api.port, api.url) if api is not None and api.port else None

    return LocalReads(
        state=lambda: node.state,
        data_dir=lambda: node.settings.data_dir,
        workspace=lambda: node.settings.workspace_path,
        api_address=api_address,
        metrics=LiveMetrics(node.hub),
    )


def bridge_for(
    node: HeartNode,
    *,
    refresh_at: float = REFRESH_AT,
    call_summaries_per_s: float = 4.0,
    parent: QObject | None = None,
) -> EngineBridge:
    """A bridge to ``node`` (started or not; see :class:`EngineBridge` for the options).
    Call it from a coroutine on the qasync loop."""
    return EngineBridge(
        node.facade,
        node.bus,
        local_reads(node),
        refresh_at=refresh_at,
        call_summaries_per_s=call_summaries_per_s,
        parent=parent,
    )
