"""ModulesService: the workspace's modules and tools: listing, versions, reloads, calls."""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chimera_engine.errors import NotFoundError
from chimera_engine.modules.manager import HotReloadManager, ReloadStats
from chimera_engine.modules.models import ModuleVersion, Origin, ReloadResult, VersionState
from chimera_engine.runtime import ToolCallError, ToolRuntime
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal
from chimera_engine.tooling import describe_signature
from chimera_engine.workspace import validate_module_name


@dataclass(frozen=True, kw_only=True)
class ToolInfo:
    name: str
    module: str
    version: int
    signature: str
    description: str
    is_async: bool
    calls: int
    errors: int


@dataclass(frozen=True, kw_only=True)
class VersionInfo:
    """A snapshot of one module version, safe to hand to any thread or widget."""

    module: str
    version: int
    state: str
    origin: str
    created_at: float
    content_hash: str
    error: str
    parent: int | None
    calls: int
    errors: int
    error_rate: float
    in_flight: int
    loaded: bool
    active: bool
    tools: tuple[str, ...]
    #: how it served once replaced: "good", "unproven: ...", "bad: ..." or "" (not judged)
    verdict: str = ""


def version_info(mv: ModuleVersion, active: bool) -> VersionInfo:
    return VersionInfo(
        module=mv.module,
        version=mv.version,
        state=mv.state.value,
        origin=mv.origin.value,
        created_at=mv.created_at,
        content_hash=mv.content_hash,
        error=mv.error,
        parent=mv.parent,
        calls=mv.calls,
        errors=mv.errors,
        error_rate=mv.error_rate,
        in_flight=mv.in_flight,
        loaded=mv.loaded is not None,
        active=active,
        tools=tuple(t.get("name", "") for t in mv.tool_info),
        verdict=mv.verdict,
    )


class ModulesService:
    """Needs the reload manager and the tool runtime (getters: both are built when the
    engine starts) and the guard."""

    def __init__(
        self,
        guard: Guard,
        reload: Callable[[], HotReloadManager],
        runtime: Callable[[], ToolRuntime],
    ) -> None:
        self._guard = guard
        self._reload = reload
        self._runtime = runtime

    async def _allow(self, principal: Principal, permission: Permission, target: str = "") -> None:
        await self._guard.allow(principal, permission, target)

    def _module_of(self, name: str) -> str:
        """Accept a module name or a tool name."""
        registry = self._reload().registry
        if name in registry.history:
            return name
        owner = registry.owner_of(name)
        if owner is None:
            raise NotFoundError(f"no tool or module named {name!r}")
        return owner

    async def list_tools(self, principal: Principal) -> list[ToolInfo]:
        await self._allow(principal, Permission.TOOL_READ)
        return [
            ToolInfo(
                name=tv.name,
                module=tv.module,
                version=tv.version,
                signature=describe_signature(tv.signature),
                description=tv.description,
                is_async=tv.is_async,
                calls=tv.calls,
                errors=tv.errors,
            )
            for _, tv in sorted(self._reload().registry.active_tools().items())
        ]

    async def list_modules(self, principal: Principal) -> dict[str, list[VersionInfo]]:
        """Every module with its whole version history, oldest first."""
        await self._allow(principal, Permission.TOOL_READ)
        registry = self._reload().registry
        return {
            module: [version_info(mv, registry.active.get(module) is mv) for mv in versions]
            for module, versions in sorted(registry.history.items())
        }

    async def module_versions(self, principal: Principal, name: str) -> list[VersionInfo]:
        await self._allow(principal, Permission.TOOL_READ)
        module = self._module_of(name)
        registry = self._reload().registry
        return [
            version_info(mv, registry.active.get(module) is mv) for mv in registry.versions(module)
        ]

    async def version_source(self, principal: Principal, module: str, version: int) -> str:
        await self._allow(principal, Permission.TOOL_READ)
        return self._reload().registry.get(validate_module_name(module), version).source

    async def diff_versions(self, principal: Principal, module: str, old: int, new: int) -> str:
        """A unified diff from version ``old`` to ``new`` (computed off the loop)."""
        await self._allow(principal, Permission.TOOL_READ)
        registry = self._reload().registry
        a = registry.get(validate_module_name(module), old)
        b = registry.get(module, new)

        def diff() -> str:
            return "".join(
                difflib.unified_diff(
                    a.source.splitlines(keepends=True),
                    b.source.splitlines(keepends=True),
                    fromfile=f"{module}.py v{old}",
                    tofile=f"{module}.py v{new}",
                )
            )

        return await asyncio.get_running_loop().run_in_executor(None, diff)

    async def reload_stats(self, principal: Principal) -> ReloadStats:
        await self._allow(principal, Permission.TOOL_READ)
        return self._reload().stats()

    async def reload_module(
        self, principal: Principal, module: str, *, force: bool = False, source: str | None = None
    ) -> ReloadResult:
        """Reload a module from its file (or from ``source``) into a new version."""
        await self._allow(principal, Permission.TOOL_RELOAD, module)
        return await self._reload().reload_module(
            validate_module_name(module),
            source=source,
            origin=Origin.MANUAL,
            principal=principal,
            force=force,
        )

    async def activate_version(self, principal: Principal, name: str, version: int) -> ReloadResult:
        module = self._module_of(name)
        await self._allow(principal, Permission.TOOL_ACTIVATE, module)
        return await self._reload().activate(module, version, principal)

    async def rollback_module(self, principal: Principal, name: str) -> ReloadResult:
        module = self._module_of(name)
        await self._allow(principal, Permission.TOOL_ACTIVATE, module)
        return await self._reload().rollback(module, principal)

    async def set_version_state(
        self, principal: Principal, name: str, version: int, state: str
    ) -> VersionInfo:
        module = self._module_of(name)
        await self._allow(principal, Permission.TOOL_ACTIVATE, module)
        mv = await self._reload().set_state(module, version, VersionState(state), principal)
        return version_info(mv, False)

    async def pending_deletions(self, principal: Principal) -> list[str]:
        """Modules whose file was deleted while their version still serves."""
        await self._allow(principal, Permission.TOOL_READ)
        return sorted(self._reload().pending_deletions)

    async def decide_deletion(self, principal: Principal, module: str, action: str) -> str:
        """``remove`` a deleted module or ``restore`` its file; returns the new state."""
        await self._allow(principal, Permission.TOOL_ACTIVATE, validate_module_name(module))
        done = await self._reload().decide_deletion(module, action, principal)
        return done.state

    async def call_tool(
        self,
        principal: Principal,
        tool: str,
        args: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
    ) -> Any:
        """Call a tool on behalf of an operator or client; the call is audited."""
        tv, _ = self._reload().registry.resolve(tool, version)
        try:
            result = await self._runtime().call(tool, args, principal, version=version)
        except ToolCallError as exc:
            await self._guard.record(
                principal,
                "tool.call",
                target=tool,
                outcome="error",
                version=exc.record.version,
                error=exc.record.exception_type,
            )
            raise
        await self._guard.record(principal, "tool.call", target=tool, version=tv.version)
        return result
