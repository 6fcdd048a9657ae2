"""HeartNode: the composition root of the engine.

It builds every service explicitly from :class:`Settings`, starts them in
order, owns their background tasks and stops them in reverse order. It runs on
whatever asyncio loop is current: plain ``asyncio.run`` for ``chimera serve``,
the qasync loop in the console.

>>> import asyncio, tempfile
>>> from pathlib import Path
>>> from chimera_engine.config import load_settings
>>> async def demo() -> str:
...     settings = load_settings(data_dir=Path(tempfile.mkdtemp()), env={}, use_default_file=False)
...     async with HeartNode(settings) as node:
...         return node.status().state
>>> asyncio.run(demo())
'running'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from chimera_engine.api.server import ApiServer
from chimera_engine.config import Settings
from chimera_engine.demo.runner import DemoRunner
from chimera_engine.errors import ConfigError
from chimera_engine.events import EngineStateChanged, EventBus, ServiceFailed
from chimera_engine.heal.engine import MetacognitiveEngine
from chimera_engine.heal.learner import PatchLearner
from chimera_engine.looplag import LoopLagMonitor
from chimera_engine.metrics.cap import SeriesCap
from chimera_engine.metrics.collectors import PrometheusScraper, ToolCallCollector
from chimera_engine.metrics.exporter import EngineMetrics
from chimera_engine.metrics.exposition import Exposition
from chimera_engine.metrics.hub import MetricsHub
from chimera_engine.metrics.startup import start_collectors
from chimera_engine.modules.manager import HotReloadManager
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.node_status import NodeStatus, check_data_dir
from chimera_engine.patches.attempts import AttemptRepository
from chimera_engine.patches.generator import CodeGenerator, GenerationPolicy
from chimera_engine.patches.providers.base import Provider
from chimera_engine.patches.review import ApprovalPolicy, ReviewQueue
from chimera_engine.patches.sandbox import PatchTester, SandboxLimits
from chimera_engine.patches.slot import GeneratorSlot
from chimera_engine.patches.store import PatchRepository, PatternStore
from chimera_engine.patches.watch import Baseline, WatchPolicy
from chimera_engine.runtime import ToolRuntime
from chimera_engine.security.manager import SecurityManager
from chimera_engine.security.secrets import load_or_create_secret
from chimera_engine.store.datadir_lock import DataDirLock, acquire_datadir_lock
from chimera_engine.store.db import Database
from chimera_engine.swarm.coordinator import SwarmCoordinator
from chimera_engine.swarm.credentials import ApiKeyNodeCredentials
from chimera_engine.swarm.errors import BackendUnavailableError, SwarmNotRunningError
from chimera_engine.swarm.store import SwarmStore
from chimera_engine.swarm.tools import RegistryToolSource
from chimera_engine.wiring import api_deps, build_facade
from chimera_engine.workspace import Workspace, seed_demo_workspace

log = logging.getLogger(__name__)


class HeartNode:
    """Owns the engine's services and tasks. Use ``async with`` or start()/stop()."""

    def __init__(
        self, settings: Settings, *, provider: Provider | None = None, accounts_only: bool = False
    ) -> None:
        """``provider``, when given, answers patch requests instead of the one the
        ``[codegen]`` settings describe (see :meth:`use_provider`).

        ``accounts_only`` starts the store and the security state alone: no workspace,
        tools, swarm, API or demo, and no one-writer lock, since accounts, keys and the
        audit log are shared through the database by every engine on it (a change made
        this way ends the affected sessions in the serving engine within a second). The
        CLI's ``user``, ``key`` and ``audit`` commands use it beside a serving engine."""
        self.settings = settings
        self.accounts_only = accounts_only
        self.bus = EventBus()
        self.metrics = EngineMetrics()
        self.db = Database(settings.database_path)
        self.loop_lag = LoopLagMonitor(
            self.bus, self.metrics, interval=settings.engine.loop_lag_interval
        )
        #: Set during :meth:`start` once accounts can sign in (store and security loaded),
        #: before the workspace, swarm and API are up: a console shows its sign-in then.
        self.sign_in_ready = asyncio.Event()
        self.state = "created"
        #: The one-writer lock on the data dir, held from start() to stop().
        self.datadir_lock: DataDirLock | None = None
        self._security: SecurityManager | None = None
        self._reload: HotReloadManager | None = None
        self._runtime: ToolRuntime | None = None
        self.api: ApiServer | None = None
        self._patches: ReviewQueue | None = None
        self._swarm: SwarmCoordinator | None = None
        self.swarm_error = ""
        m = settings.metrics
        self.hub = MetricsHub(
            self.bus,
            self.db,
            cap=SeriesCap(per_owner=m.series_per_principal, total=m.series_total),
            stale_s=m.series_stale_seconds,
        )
        self.scrapers: list[PrometheusScraper] = []
        self.tool_collector: ToolCallCollector | None = None
        self.exposition = Exposition(
            self.metrics,
            self.bus,
            self.hub,
            self.db,
            workspace=lambda: self._reload.workspace.key if self._reload else None,
            swarm=lambda: self._swarm,
        )
        self.generators = GeneratorSlot(
            lambda: self.settings,
            lambda: self.patches.patterns,
            lambda coro, name: self.spawn(coro, name=name),
            provider,
        )
        self.heal_engine: MetacognitiveEngine | None = None
        self.api_error = ""
        self.demo: DemoRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started_at = 0.0
        self._schema_version = 0
        self.facade = build_facade(self)

    # -- services ------------------------------------------------------------------------
    @property
    def security(self) -> SecurityManager:
        if self._security is None:
            raise RuntimeError("the engine is not started")
        return self._security

    @property
    def reload(self) -> HotReloadManager:
        if self._reload is None:
            raise RuntimeError("the engine is not started")
        return self._reload

    @property
    def runtime(self) -> ToolRuntime:
        if self._runtime is None:
            raise RuntimeError("the engine is not started")
        return self._runtime

    @property
    def patches(self) -> ReviewQueue:
        if self._patches is None:
            raise RuntimeError("the engine is not started")
        return self._patches

    @property
    def swarm(self) -> SwarmCoordinator:
        if self._swarm is None:
            reason = self.swarm_error or "it is disabled in the settings (swarm.enabled)"
            raise SwarmNotRunningError(f"the swarm is not running: {reason}")
        return self._swarm

    @property
    def swarm_running(self) -> bool:
        return self._swarm is not None

    def use_provider(
        self, provider: Provider | None, policy: GenerationPolicy | None = None
    ) -> None:
        """Answer patch requests with ``provider`` from now on (None: back to the settings').

        The caller keeps ownership: the node never closes a provider given here.
        The generation limits come from ``policy``, else from ``[codegen]``.
        """
        self.generators.use(provider, policy)

    def retire_generator(self) -> None:
        """The next patch request builds a generator for the settings now in force."""
        self.generators.retire()

    def generator(self) -> CodeGenerator:
        """The code generator for the configured provider (built on first use)."""
        return self.generators.get()

    def _baseline(self, module: str, version: int) -> Baseline:
        mv = self.reload.registry.get(module, version)
        seconds = sum(t.total_seconds for t in mv.tools.values())
        return Baseline(
            calls=mv.calls, errors=mv.errors, latency_s=seconds / mv.calls if mv.calls else 0.0
        )

    # -- lifecycle -----------------------------------------------------------------------
    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        self.bus.publish(EngineStateChanged(state=state, detail=detail))

    async def start(self) -> None:
        """Open the store, load the security state and start background services."""
        if self.state == "running":
            return
        self._set_state("starting")
        self.sign_in_ready.clear()
        loop = asyncio.get_running_loop()
        try:
            data_dir = self.settings.data_dir
            await loop.run_in_executor(None, check_data_dir, data_dir)
            if not self.accounts_only:
                self.datadir_lock = await loop.run_in_executor(None, acquire_datadir_lock, data_dir)
            secret = await loop.run_in_executor(
                None, load_or_create_secret, self.settings.secret_path
            )
            await self.db.open()
            self._schema_version = await self.db.read(
                lambda c: int(c.execute("PRAGMA user_version").fetchone()[0])
            )
            security = SecurityManager(
                self.db,
                secret,
                self.bus,
                self.settings.security,
                self.settings.audit,
                self.settings.ratelimit,
            )
            await security.load()
            await self.hub.load_settings()
            self._security = security
            self.sign_in_ready.set()
            if not self.accounts_only:
                await self._start_workspace(security)
        except BaseException as exc:
            self._set_state("failed", str(exc))
            await self.db.close()  # also ends the reader threads of a database that never opened
            self._release_datadir()
            raise
        if self.accounts_only:
            self._started_at = time.time()
            self._set_state("running")
            return
        if self.settings.metrics.enabled:
            self.tool_collector, self.scrapers = start_collectors(
                self.settings.metrics, self.bus, self.hub, lambda c, n: self.spawn(c, name=n)
            )
        if self.settings.heal.enabled:
            await self._start_heal()
        if self.settings.swarm.enabled:
            await self._start_swarm()
        if self.settings.api.enabled:
            await self._start_api()
            if self.api is not None and self.datadir_lock is not None:
                self.datadir_lock.set_api(self.api.url)
        await self._start_demo()
        self.spawn(self.loop_lag.run(), name="loop-lag")
        self.spawn(self.exposition.feeder.run(), name="metrics-feeder")
        self.spawn(self.security.watch_users(), name="user-watch")
        self._started_at = time.time()
        self.metrics.up.set(1)
        self._set_state("running")

    async def _start_workspace(self, security: SecurityManager) -> None:
        loop = asyncio.get_running_loop()
        root = self.settings.workspace_path
        if self.settings.engine.workspace is None:
            await loop.run_in_executor(None, seed_demo_workspace, root)
        workspace = Workspace(root)
        tools = self.settings.tools
        registry = VersionedToolRegistry(
            self.db, workspace.key, workspace.package, trust_after=tools.trust_after
        )
        self._reload = HotReloadManager(
            workspace,
            registry,
            self.bus,
            security.audit,
            import_timeout=tools.import_timeout,
            watch=tools.watch,
            debounce=tools.debounce,
            new_settle=tools.new_settle,
        )
        self._runtime = ToolRuntime(
            registry,
            self.bus,
            security.authorize,
            default_timeout=tools.call_timeout,
            threads=tools.threads,
        )
        await self._reload.start(lambda coro, name: self.spawn(coro, name=name))
        cg = self.settings.codegen
        self._patches = ReviewQueue(
            repo=PatchRepository(self.db, workspace.key),
            attempts=AttemptRepository(self.db, workspace.key),
            patterns=PatternStore(self.db),
            tester=PatchTester(
                root, SandboxLimits(wall_seconds=cg.sandbox_timeout, sandbox=cg.sandbox)
            ),
            reload=self._reload,
            audit=security.audit,
            bus=self.bus,
            spawn=lambda coro, name: self.spawn(coro, name=name),
            approval=ApprovalPolicy(
                auto_approve=cg.auto_approve, max_changed_lines=cg.auto_approve_max_lines
            ),
            watch_policy=WatchPolicy(seconds=cg.watch_seconds, min_calls=cg.watch_min_calls),
            baseline=self._baseline,
        )
        await self._patches.resume()

    async def _start_heal(self) -> None:
        """Metacognition: after the review queue it sends patch requests to."""
        heal = MetacognitiveEngine(
            settings=self.settings.heal,
            bus=self.bus,
            registry=self.reload.registry,
            runtime=self.runtime,
            learner=PatchLearner(
                authorize=self.security.authorize,
                build_request=self.facade.patches.build_request,
                queue=self.patches,
                generator=self.generator,
            ),
            audit=self.security.audit,
            spawn=lambda coro, name: self.spawn(coro, name=name),
        )
        await heal.start()
        self.heal_engine = heal

    async def _start_swarm(self) -> None:
        """Start the swarm; an unreachable backend (a Dask scheduler that is down) is
        reported, not fatal: the rest of the engine runs without agents."""
        swarm = SwarmCoordinator(
            store=SwarmStore(self.db),
            tools=RegistryToolSource(self.reload.registry),
            audit=self.security.audit,
            bus=self.bus,
            credentials=ApiKeyNodeCredentials(self.security.api_keys),
            settings=self.settings.swarm,
            spawn=lambda coro, name: self.spawn(coro, name=name),
        )
        try:
            await swarm.start()
        except BackendUnavailableError as exc:
            self.swarm_error = str(exc)
            log.error("swarm not started: %s", exc)
            self.bus.publish(ServiceFailed(service="swarm", error=str(exc)))
            return
        self._swarm = swarm

    async def _start_api(self) -> None:
        """Start the HTTP API; a failure (port in use, bad TLS files) is reported, not fatal."""
        api = ApiServer(api_deps(self, self.facade), self.settings.api)
        try:
            await api.start()
        except ConfigError as exc:
            self.api_error = str(exc)
            log.error("API not started: %s", exc)
            self.bus.publish(ServiceFailed(service="api", error=str(exc)))
            return
        self.api = api

    async def _start_demo(self) -> None:
        """The demo workload (built always, so an operator can start it by hand; started
        here when ``demo.enabled`` says so: by default with the demo workspace)."""
        demo = self.settings.demo
        self.demo = DemoRunner(
            demo,
            registry=lambda: self.reload.registry,
            runtime=lambda: self.runtime,
            api_url=lambda: self.api.url if self.api is not None else "",
            swarm=lambda: self.swarm,
            swarm_running=lambda: self.swarm_running,
            audit=lambda: self.security.audit,
            spawn=self.spawn,
            bus=self.bus,
            hub=self.hub,
        )
        if demo.active(self.settings.engine.workspace is None):
            await self.demo.start(delay=demo.start_delay, audit=False)

    async def stop(self) -> None:
        """Cancel and await every owned task, flush the audit log, close the store."""
        if self.state in ("stopped", "created", "failed"):
            return
        self._set_state("stopping")
        if self.demo is not None:  # its calls end before the services they use
            with contextlib.suppress(Exception):
                await self.demo.stop(audit=False)
        if self._swarm is not None:  # agents finish and results are recorded first
            with contextlib.suppress(Exception):
                await self._swarm.stop()
            self._swarm = None
        if self.heal_engine is not None:  # no new patch requests while the queue stops
            await self.heal_engine.stop()
            self.heal_engine = None
        tasks = tuple(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self.api is not None:
            await self.api.stop()
            self.api = None
        if self._reload is not None:
            with contextlib.suppress(Exception):
                await self._reload.stop()
        if self._runtime is not None:
            self._runtime.shutdown()
        await self.generators.aclose()
        with contextlib.suppress(Exception):
            await self.hub.flush()
        if self._security is not None:
            with contextlib.suppress(Exception):
                await self._security.audit.flush()
        await self.bus.aclose()
        await self.db.close()
        self._release_datadir()
        self.metrics.up.set(0)
        self.state = "stopped"
        log.info("engine stopped")

    def _release_datadir(self) -> None:
        lock, self.datadir_lock = self.datadir_lock, None
        if lock is not None:
            lock.release()

    async def __aenter__(self) -> HeartNode:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run(self) -> None:
        """Start and run until cancelled (``chimera serve``), then stop cleanly."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task the node owns: kept referenced, cancelled at stop,
        and reported as :class:`ServiceFailed` if it raises."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("service %s failed: %s", task.get_name(), exc, exc_info=exc)
            self.bus.publish(ServiceFailed(service=task.get_name(), error=str(exc)))

    # -- health --------------------------------------------------------------------------
    def status(self) -> NodeStatus:
        lag = self.loop_lag.last
        return NodeStatus(
            state=self.state,
            uptime_s=time.time() - self._started_at if self._started_at else 0.0,
            data_dir=str(self.settings.data_dir),
            database=str(self.settings.database_path),
            schema_version=self._schema_version,
            tasks=len(self._tasks),
            loop_lag_p50_ms=lag.p50_ms,
            loop_lag_p99_ms=lag.p99_ms,
            audit_entries_in_memory=len(self._security.audit.ring) if self._security else 0,
            event_subscribers=self.bus.subscriber_count(),
            db_transactions=self.db.transactions,
            workspace=str(self.settings.workspace_path),
            modules=len(self._reload.registry.active) if self._reload else 0,
            tools=len(self._reload.registry.active_tools()) if self._reload else 0,
            startup_problems=tuple(self._reload.startup_problems) if self._reload else (),
            pending_deletions=tuple(self._reload.deletion_notes()) if self._reload else (),
            api_url=self.api.url if self.api else "",
            api_error=self.api_error,
            swarm_error=self.swarm_error,
        )
