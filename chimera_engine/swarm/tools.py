"""Which source runs for a tool: the coordinator resolves ``(tool, version)`` to a bundle.

:class:`ToolSource` is the small protocol the coordinator needs;
:class:`RegistryToolSource` implements it over the engine's
:class:`~chimera_engine.modules.registry.VersionedToolRegistry`. A bundle holds
the declaring module's source at the requested version, preceded by the
currently active sources of the sibling modules it imports, and is keyed by a
hash of their content, so agents load each distinct version once and a hot
reload reaches them as a new key without a restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from chimera_engine.errors import NotFoundError, ValidationError
from chimera_engine.modules.loader import workspace_imports
from chimera_engine.modules.models import ModuleVersion, VersionState
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.runtime import check_arguments
from chimera_engine.swarm.decomposer import ToolDescription


@dataclass(frozen=True, kw_only=True)
class ToolRef:
    """A resolved tool: ``bundle`` is what agents load (see :mod:`.execution`);
    ``check`` validates inputs on the coordinator when the version is loaded there."""

    tool: str
    module: str
    version: int
    key: str
    bundle: Mapping[str, Any]
    timeout: float | None = None
    check: Callable[[Mapping[str, Any]], None] | None = None


class ToolSource(Protocol):
    def resolve(self, tool: str, version: int | None) -> ToolRef:
        """The tool at ``version`` (None: the active one). NotFoundError/ValidationError."""
        ...

    def describe(self) -> Sequence[ToolDescription]:
        """The active tools, for the decomposer and planners."""
        ...


_REFUSED = (VersionState.RETIRED, VersionState.FAILED)


class RegistryToolSource:
    """ToolSource over the versioned registry. Call on the loop thread."""

    def __init__(self, registry: VersionedToolRegistry) -> None:
        self._registry = registry
        self._cache: dict[tuple[Any, ...], ToolRef] = {}
        self._imported: dict[tuple[str, str], list[str]] = {}

    def describe(self) -> list[ToolDescription]:
        return [
            ToolDescription(
                name=name, params=tuple(tv.signature.parameters), description=tv.description
            )
            for name, tv in sorted(self._registry.active_tools().items())
        ]

    def _declaring(self, tool: str) -> str:
        owner = self._registry.owner_of(tool)
        if owner is not None:
            return owner
        for module in self._registry.modules():
            for mv in self._registry.versions(module):
                if any(t.get("name") == tool for t in mv.tool_info):
                    return module
        raise NotFoundError(f"no tool named {tool!r}")

    def resolve(self, tool: str, version: int | None) -> ToolRef:
        registry = self._registry
        if version is None:
            tv = registry.active_tools().get(tool)
            if tv is None:
                raise NotFoundError(f"no active tool named {tool!r}")
            mv = registry.active[tv.module]
        else:
            mv = registry.get(self._declaring(tool), version)
            if mv.state in _REFUSED:
                raise ValidationError(f"{mv.label} is {mv.state.value} and cannot run tasks")
            if not any(t.get("name") == tool for t in mv.tool_info):
                raise NotFoundError(f"{mv.label} does not provide the tool {tool!r}")
        chain = self._with_dependencies(mv)
        cache_key = (tool, *((m.module, m.version, m.content_hash) for m in chain))
        ref = self._cache.get(cache_key)
        if ref is None:
            ref = self._build(tool, mv, chain)
            self._cache[cache_key] = ref
        return ref

    def _imports(self, mv: ModuleVersion) -> list[str]:
        key = (mv.module, mv.content_hash)
        found = self._imported.get(key)
        if found is None:
            found = sorted(workspace_imports(mv.source, self._registry.package))
            self._imported[key] = found
        return found

    def _with_dependencies(self, mv: ModuleVersion) -> list[ModuleVersion]:
        """``mv`` last, after the active versions of what it imports (deepest first)."""
        ordered: list[ModuleVersion] = []
        seen: set[str] = {mv.module}

        def visit(current: ModuleVersion) -> None:
            for name in self._imports(current):
                dep = self._registry.active.get(name)
                if dep is None or name in seen:
                    continue
                seen.add(name)
                visit(dep)
                ordered.append(dep)

        visit(mv)
        return [*ordered, mv]

    def _build(self, tool: str, mv: ModuleVersion, chain: list[ModuleVersion]) -> ToolRef:
        digest = hashlib.sha256(f"{self._registry.package}\x1f{tool}".encode())
        for m in chain:
            digest.update(f"\x1f{m.module}\x1f{m.version}\x1f{m.content_hash}".encode())
        key = digest.hexdigest()
        loaded = mv.tools.get(tool)
        check: Callable[[Mapping[str, Any]], None] | None = None
        if loaded is not None:
            tv = loaded

            def check(inputs: Mapping[str, Any]) -> None:
                check_arguments(tv, inputs)

        timeout = loaded.timeout if loaded is not None else None
        bundle = {
            "key": key,
            "package": self._registry.package,
            "tool": tool,
            "modules": [
                {"module": m.module, "version": m.version, "source": m.source} for m in chain
            ],
        }
        return ToolRef(
            tool=tool,
            module=mv.module,
            version=mv.version,
            key=key,
            bundle=bundle,
            timeout=timeout,
            check=check,
        )
