"""EngineBridge: where engine events become Qt signals and GUI actions await the engine.

Everything the GUI does to the engine goes through the authorised
:class:`~chimera_engine.facade.EngineFacade`, acting as the signed-in user held
here. The bridge holds one small client per feature (:mod:`app.clients`):
``bridge.modules``, ``bridge.patches``, ``bridge.metrics``, ``bridge.swarm``,
``bridge.audit``, ``bridge.admin``, ``bridge.settings``, ``bridge.overview`` and
``bridge.demo``. Widgets call :meth:`EngineBridge.run` with one of their
coroutines (``bridge.run(bridge.modules.list_modules())``); the task is kept
referenced, failures surface through :attr:`EngineBridge.errorRaised` (or the
caller's ``on_error``), and :meth:`EngineBridge.aclose` cancels whatever is still
running.

The bridge never holds the engine's node: it is built from the facade, the event
bus and :class:`LocalReads` (a few cheap in-process reads), see
:func:`app.startup.bridge_for`.

Threading: construct, call and await it only on the qasync loop's (GUI) thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from app.calls import CallAggregator, CallSummary
from app.clients.admin import AdminClient
from app.clients.audit import AuditClient
from app.clients.demo import DemoClient
from app.clients.metrics import MetricsClient
from app.clients.modules import ModulesClient
from app.clients.overview import OverviewClient
from app.clients.patches import PatchesClient
from app.clients.settings import SettingsClient
from app.clients.swarm import SwarmClient
from app.shared.swarm_feed import SWARM_EVENTS, SwarmFeed
from app.tasks import TaskRunner, describe_error
from chimera_engine.errors import AuthenticationError
from chimera_engine.events import (
    AnomalyAcknowledged,
    AnomalyDetected,
    AuditAppended,
    EngineStateChanged,
    Event,
    EventBus,
    FailurePredicted,
    LoopLagSampled,
    ModuleFileDeleted,
    ModuleReloaded,
    PatchAttemptRecorded,
    PatchChanged,
    PatchProgress,
    PredictionWithdrawn,
    ServiceFailed,
    Subscription,
    ToolCallCompleted,
    UserChanged,
    VersionChanged,
)
from chimera_engine.facade import EngineFacade
from chimera_engine.metrics.live import LiveMetrics
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.redact import hide_attempted_names

__all__ = ["EngineBridge", "LocalReads", "describe_error"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Refresh the access token when this fraction of its lifetime has passed.
REFRESH_AT = 0.8
#: Wait this long before retrying a refresh that failed for a reason other than auth.
REFRESH_RETRY_S = 5.0


@dataclass(frozen=True, kw_only=True)
class LocalReads:
    """What the console reads from the engine in its own process besides the facade:
    cheap, no I/O, nothing an operator of this process may not see.

    Each is a callable because the engine's values change while the console runs
    (its state; its paths after a settings change; the API's port after a restart).
    """

    #: The engine's state ("running", "stopping", ...).
    state: Callable[[], str]
    #: Where the engine's data lives.
    data_dir: Callable[[], Path]
    #: The workspace of tool modules it runs.
    workspace: Callable[[], Path]
    #: ``(port, url)`` of the HTTP/WebSocket API while it listens, else None.
    api_address: Callable[[], tuple[int, str] | None]
    #: Read-only view of the metric ring buffers (the Dashboard's charts).
    metrics: LiveMetrics


class EngineBridge(QObject):
    """Holds the current :class:`Session` and one client per feature.

    Construct it from a coroutine running on the qasync loop: it subscribes to
    the engine's event bus at once and pumps events in a task it owns. The engine
    operations themselves are the clients' coroutines (see :mod:`app.clients`).

    Tool calls are never forwarded one by one: :attr:`callSummary` carries the
    counts per ``(module, version)`` at most ``call_summaries_per_s`` times a second.
    """

    auditAppended = Signal(object)  # AuditEntry
    engineStateChanged = Signal(str)
    loopLag = Signal(float)  # p99 in milliseconds
    userChanged = Signal(object, str)  # UserRecord, change
    serviceFailed = Signal(str, str)  # service, error
    sessionChanged = Signal(object)  # Session | None
    errorRaised = Signal(str, str)  # title, message
    busyChanged = Signal(bool)
    moduleReloaded = Signal(object)  # ReloadResult
    versionChanged = Signal(str, int, str, str)  # module, version, state, detail
    moduleFileDeleted = Signal(str, object)  # module, serving version (int | None)
    callSummary = Signal(object)  # CallSummary
    patchChanged = Signal(int, str, str, str)  # patch id, module, state, reason
    patchAttempt = Signal(int, str, str, str)  # attempt id, module, verdict, reason
    patchProgress = Signal(str, int, int, float)  # module, attempt, pieces so far, seconds
    # Anomalies are one event per incident (the engine cools alerts down), never per sample.
    anomalyDetected = Signal(int, object)  # anomaly id, AnomalyEvent
    anomalyAcknowledged = Signal(int, str)  # anomaly id, actor
    failurePredicted = Signal(object)  # PredictiveAlert
    predictionWithdrawn = Signal(object, str)  # PredictiveAlert, reason
    # Swarm events folded per task and agent, a few digests a second (see SwarmFeed).
    swarmChanged = Signal(object)  # SwarmDigest

    def __init__(
        self,
        facade: EngineFacade,
        bus: EventBus,
        local: LocalReads,
        *,
        refresh_at: float = REFRESH_AT,
        call_summaries_per_s: float = 4.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._facade = facade
        self._local = local
        self.refresh_at = refresh_at
        self._loop = asyncio.get_running_loop()
        self._session: Session | None = None
        self._runner = TaskRunner(
            self._loop, busy_changed=self.busyChanged.emit, show_error=self.errorRaised.emit
        )
        self._refresher: asyncio.Task[None] | None = None
        self._closed = False
        self.calls = CallAggregator(
            self.callSummary.emit, interval=1.0 / max(0.1, call_summaries_per_s)
        )
        self.swarm_feed = SwarmFeed(self.swarmChanged.emit)
        principal = self._current_principal
        self.modules = ModulesClient(facade, principal)
        self.patches = PatchesClient(facade, principal)
        self.metrics = MetricsClient(facade, principal, local.metrics)
        self.swarm = SwarmClient(facade, principal)
        self.audit = AuditClient(facade, principal)
        self.admin = AdminClient(facade, principal)
        self.settings = SettingsClient(facade, principal)
        self.overview = OverviewClient(facade, principal, local.metrics)
        self.demo = DemoClient(facade, principal)
        self._subscription: Subscription = bus.subscribe(
            AuditAppended,
            EngineStateChanged,
            LoopLagSampled,
            UserChanged,
            ServiceFailed,
            ModuleReloaded,
            VersionChanged,
            ModuleFileDeleted,
            ToolCallCompleted,
            PatchChanged,
            PatchAttemptRecorded,
            PatchProgress,
            AnomalyDetected,
            AnomalyAcknowledged,
            FailurePredicted,
            PredictionWithdrawn,
            *SWARM_EVENTS,
            maxsize=10_000,
        )
        self._pump = self._loop.create_task(self._pump_events(), name="bridge-events")

    # -- state -----------------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        return self._session

    @property
    def principal(self) -> Principal:
        """The signed-in user; :class:`AuthenticationError` when nobody is signed in."""
        return self._current_principal()

    def _current_principal(self) -> Principal:
        if self._session is None:
            raise AuthenticationError("not signed in")
        return self._session.principal

    @property
    def engine_state(self) -> str:
        return self._local.state()

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` ran: :meth:`run` refuses work from then on."""
        return self._closed

    @property
    def busy(self) -> bool:
        return self._runner.busy

    @property
    def data_dir(self) -> str:
        return str(self._local.data_dir())

    @property
    def workspace(self) -> str:
        return str(self._local.workspace())

    def api_address(self) -> tuple[int, str] | None:
        """``(port, url)`` of the engine's HTTP/WebSocket API while it listens."""
        return self._local.api_address()

    def pending_tasks(self) -> int:
        """How many operations started with :meth:`run` have not finished yet."""
        return self._runner.pending()

    # -- events ----------------------------------------------------------------------------
    async def _pump_events(self) -> None:
        async for event in self._subscription:
            try:
                self._dispatch(event)
            except Exception:
                log.exception("a handler of %s failed", type(event).__name__)

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, ToolCallCompleted):
            self.calls.add(event.record)
        elif isinstance(event, AuditAppended):
            session = self.session
            admin = session is not None and session.principal.role is Role.ADMIN
            self.auditAppended.emit(event.entry if admin else hide_attempted_names(event.entry))
        elif isinstance(event, LoopLagSampled):
            self.loopLag.emit(event.p99_ms)
        elif isinstance(event, EngineStateChanged):
            self.engineStateChanged.emit(event.state)
        elif isinstance(event, UserChanged):
            self.userChanged.emit(event.user, event.change)
        elif isinstance(event, ServiceFailed):
            self.serviceFailed.emit(event.service, event.error)
            self.errorRaised.emit(
                "Engine service failed", f"{event.service} stopped: {event.error}"
            )
        elif isinstance(event, ModuleReloaded):
            self.moduleReloaded.emit(event.result)
        elif isinstance(event, VersionChanged):
            self.versionChanged.emit(event.module, event.version, event.state, event.detail)
        elif isinstance(event, ModuleFileDeleted):
            self.moduleFileDeleted.emit(event.module, event.version)
        elif isinstance(event, PatchChanged):
            self.patchChanged.emit(event.patch_id, event.module, event.state, event.reason)
        elif isinstance(event, PatchAttemptRecorded):
            self.patchAttempt.emit(event.attempt_id, event.module, event.verdict, event.reason)
        elif isinstance(event, PatchProgress):
            self.patchProgress.emit(event.module, event.attempt, event.pieces, event.elapsed_s)
        elif isinstance(event, AnomalyDetected):
            self.anomalyDetected.emit(event.anomaly_id, event.event)
        elif isinstance(event, AnomalyAcknowledged):
            self.anomalyAcknowledged.emit(event.anomaly_id, event.actor)
        elif isinstance(event, FailurePredicted):
            self.failurePredicted.emit(event.alert)
        elif isinstance(event, PredictionWithdrawn):
            self.predictionWithdrawn.emit(event.alert, event.reason)
        elif isinstance(event, SWARM_EVENTS):
            self.swarm_feed.add(event)

    def flush_call_stats(self) -> CallSummary | None:
        """Deliver now every event the engine has already published, then the pending
        call summary (also emitted through :attr:`callSummary`).

        Call it right before applying call totals read from the engine in the same
        loop step: every call counted in those totals has then been reported, and
        later summaries only hold calls that finished afterwards.
        """
        while (event := self._subscription.get_nowait()) is not None:
            try:
                self._dispatch(event)
            except Exception:
                log.exception("a handler of %s failed", type(event).__name__)
        return self.calls.flush()

    # -- operations ------------------------------------------------------------------------
    def run(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        on_success: Callable[[T], object] | None = None,
        on_error: Callable[[Exception], object] | None = None,
        title: str = "Operation failed",
        busy: bool = True,
    ) -> asyncio.Task[T | None]:
        """Run ``coro`` as a task the bridge owns and report its outcome.

        :attr:`busyChanged` turns true at once and false once no operation is left
        (after its callbacks ran, so the outcome is already on screen).

        ``on_success(result)`` runs on success. On failure ``on_error(exc)`` runs
        when given; :attr:`errorRaised` is emitted when there is no ``on_error`` or
        the exception is not a :class:`ChimeraError` (a bug must never stay silent).
        The task's result is the coroutine's, or ``None`` after a failure.
        ``busy=False`` leaves :attr:`busyChanged` alone (periodic background reads).
        """
        if self._closed:
            coro.close()
            raise RuntimeError("the engine bridge is closed")
        return self._runner.run(coro, on_success, on_error, title, busy=busy)

    def report(self, title: str, exc: BaseException) -> None:
        """Show an error raised outside :meth:`run` (e.g. in a slot) to the operator."""
        log.error("%s: %s", title, describe_error(exc), exc_info=exc)
        self.errorRaised.emit(title, describe_error(exc))

    # -- sessions --------------------------------------------------------------------------
    async def login(self, username: str, password: str) -> Session:
        session = await self._facade.sessions.login(username, password, client="console")
        self._set_session(session)
        return session

    async def create_first_admin(self, username: str, password: str) -> Session:
        session = await self._facade.sessions.create_first_admin(username, password)
        self._set_session(session)
        return session

    async def needs_first_admin(self) -> bool:
        return await self._facade.sessions.needs_first_admin()

    async def logout(self) -> None:
        """End the session in the engine (its tokens are revoked) and forget it here."""
        session = self._session
        if session is None:
            return
        try:
            await self._facade.sessions.logout(session.principal, session.tokens.refresh_token)
        finally:
            self._set_session(None)

    def _set_session(self, session: Session | None) -> None:
        if self._refresher is not None:
            if self._refresher is not asyncio.current_task():
                self._refresher.cancel()
            self._refresher = None
        self._session = session
        if session is not None:
            self._refresher = self._loop.create_task(
                self._keep_fresh(session), name="bridge-token-refresh"
            )
        self.sessionChanged.emit(session)

    def refresh_delay(self, session: Session) -> float:
        """Seconds to wait before refreshing ``session``'s access token."""
        return max(0.1, session.tokens.expires_in * self.refresh_at)

    async def _keep_fresh(self, session: Session) -> None:
        """Refresh the access token at ``refresh_at`` of its lifetime, for as long as
        the session lasts; an auth refusal ends the session and tells the operator."""
        delay = self.refresh_delay(session)
        deadline = self._loop.time() + session.tokens.expires_in
        while True:
            await asyncio.sleep(delay)
            try:
                fresh = await self._facade.sessions.refresh(session.tokens.refresh_token)
            except AuthenticationError as exc:
                self._set_session(None)
                self.errorRaised.emit("Session ended", f"{exc}. Sign in again to continue.")
                return
            except Exception as exc:
                log.warning("token refresh failed: %s", describe_error(exc))
                delay = min(REFRESH_RETRY_S, max(0.1, deadline - self._loop.time()))
                continue
            self._set_session(fresh)
            return

    # -- shutdown --------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Cancel and await every task the bridge owns; later :meth:`run` calls fail."""
        self._closed = True
        self._subscription.close()
        self.calls.close()
        self.swarm_feed.close()
        tasks = [*self._runner.tasks(), self._pump]
        if self._refresher is not None:
            tasks.append(self._refresher)
            self._refresher = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._runner.clear()
