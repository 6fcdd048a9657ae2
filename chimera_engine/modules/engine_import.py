"""The in-engine import of a version, in a thread, with a time budget.

Also the owner of the reload lock: a transaction's in-engine imports run under it,
one at a time, with the budget the transaction set. A version's
import-time code has already run cleanly in a child process
(:mod:`~chimera_engine.modules.precheck`); the engine then imports it once more
into a fresh module object. Code that behaves differently the second time (it
checks for a file the child left, counts in ``/tmp``) could hang there, where
nothing can be killed, so that import gets a budget derived from the child's
time: past it the version is refused, the refusal logged and audited, and its
thread stopped where Python allows (see :func:`~chimera_engine.modules.loader.run_in_thread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from chimera_engine.modules.loader import ImportHung, load_module, run_in_thread
from chimera_engine.modules.models import ModuleVersion
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.workspace import Workspace

log = logging.getLogger(__name__)


class EngineImporter:
    """Loads versions into the engine; holds the reload lock and the current budget."""

    def __init__(
        self, workspace: Workspace, registry: VersionedToolRegistry, *, import_timeout: float
    ) -> None:
        self._workspace = workspace
        self._registry = registry
        self.import_timeout = import_timeout
        #: serialises reloads, activations and deletion decisions
        self.lock = asyncio.Lock()
        #: the budget of the in-engine imports of the current transaction (under the lock)
        self._budget: float | None = None

    def engine_budget(self, probe_seconds: float) -> float:
        """How long the in-engine import of a version may take after its import in a
        child process finished in ``probe_seconds``: three times that, at least 1 s,
        at most ``import_timeout``. It bounds how long such a version holds the
        other reloads (in-engine imports run one at a time, under the lock)."""
        return min(self.import_timeout, max(1.0, 3 * probe_seconds))

    @contextlib.asynccontextmanager
    async def locked(self, budget: float | None) -> AsyncIterator[None]:
        """The reload lock, with ``budget`` for the in-engine imports made under it
        (None: versions not probed just now get ``import_timeout``)."""
        async with self.lock:
            self._budget = budget
            try:
                yield
            finally:
                self._budget = None

    async def load(
        self, mv: ModuleVersion, overrides: dict[str, ModuleVersion] | None = None
    ) -> None:
        budget = self._budget
        try:
            await self._load_in_thread(mv, overrides, budget or self.import_timeout)
        except ImportHung as exc:
            if budget is None:
                raise
            reason = (
                f"{mv.label} did not finish loading in the engine within {budget:g} s, "
                "after its import in a child process had finished (import-time code "
                f"that behaves differently the second time); {exc.aftermath}"
            )
            log.error("import refused: %s", reason)
            raise ImportHung(reason, aftermath=exc.aftermath, stopped=exc.stopped) from None

    async def _load_in_thread(
        self, mv: ModuleVersion, overrides: dict[str, ModuleVersion] | None, timeout: float
    ) -> None:
        package = self._registry.package
        replaced = {
            f"{package}.{name}": v.loaded
            for name, v in (overrides or {}).items()
            if v.loaded is not None
        }
        loaded = await run_in_thread(
            lambda: load_module(
                mv.source,
                qualified_name=f"{package}.{mv.module}",
                package=package,
                filename=str(self._workspace.module_path(mv.module)),
                module=mv.module,
                version=mv.version,
                overrides=replaced,
            ),
            timeout,
            mv.label,
        )
        mv.loaded = loaded.module
        mv.tools = loaded.tools
        mv.tool_info = [tv.describe() for tv in loaded.tools.values()]
