"""IntentService: the facade's operations of the IntentCompiler.

``plan`` (permission ``swarm.task``) compiles a request and changes
nothing: the operator reads the plan first. ``run`` submits a plan's task
graph (``swarm.task`` and ``tool.call`` for every tool it runs) and is audited
as ``intent.run`` with the plan's digest. Plain language goes to the built-in
rules; when they do not apply and a code-generation provider is configured
(anything but the default replay transcript), the provider is asked for a plan,
which is then checked exactly like a structured request.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chimera_engine.config import Settings
from chimera_engine.intent.compiler import IntentCompiler
from chimera_engine.intent.plan import IntentError, IntentPlan
from chimera_engine.intent.provider import ask_for_plan
from chimera_engine.intent.rules import read_request
from chimera_engine.modules.manager import HotReloadManager
from chimera_engine.patches.generator import CodeGenerator
from chimera_engine.security.guard import Guard
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal
from chimera_engine.swarm.service import SwarmService
from chimera_engine.swarm.submission import GraphInfo

MAX_REQUEST_CHARS = 2000


class IntentService:
    """Needs the reload manager, the settings and the code generator (getters: built or
    changed while the engine runs), the swarm service it submits through and the guard."""

    def __init__(
        self,
        guard: Guard,
        *,
        reload: Callable[[], HotReloadManager],
        settings: Callable[[], Settings],
        generator: Callable[[], CodeGenerator],
        swarm: SwarmService,
    ) -> None:
        self._guard = guard
        self._reload = reload
        self._settings = settings
        self._generator = generator
        self._swarm = swarm

    def _intent_compiler(self) -> IntentCompiler:
        tools = dict(self._reload().registry.active_tools())  # a snapshot, on the loop
        return IntentCompiler(Path(self._settings().workspace_path), tools)

    def _intent_provider_configured(self) -> bool:
        codegen = self._settings().codegen
        return codegen.provider != "replay" or bool(codegen.transcript)

    async def plan(self, principal: Principal, request: str | Mapping[str, Any]) -> IntentPlan:
        """The plan for ``request`` (plain language, or a structured form); IntentError
        says why a request cannot be mapped. Runs nothing."""
        await self._guard.allow(principal, Permission.SWARM_TASK, "intent")
        compiler = self._intent_compiler()
        if not isinstance(request, str):
            return await asyncio.to_thread(compiler.compile, request)
        text = " ".join(request.split())
        if not text:
            raise IntentError("the request is empty")
        if len(text) > MAX_REQUEST_CHARS:
            raise IntentError(f"the request is longer than {MAX_REQUEST_CHARS} characters")
        form = read_request(text)
        if form is not None:
            return await asyncio.to_thread(compiler.compile, form, source="rules", request=text)
        if not self._intent_provider_configured():
            raise IntentError(
                "no rule reads this request (the verbs are clean, parse, validate and check, "
                "over files in a folder, named files or URLs) and no code-generation provider "
                "is configured to plan it; give a structured request instead"
            )
        generator = self._generator()
        proposed, completion = await ask_for_plan(generator.provider, text, compiler.tools)
        plan = await asyncio.to_thread(compiler.compile, proposed, source="provider", request=text)
        return dataclasses.replace(
            plan, provider=f"{completion.provider} {completion.model}", replay=completion.replay
        )

    async def run(self, principal: Principal, plan: IntentPlan) -> GraphInfo:
        """Submit ``plan``'s task graph to the swarm (tools checked again when submitted)."""
        await self._guard.allow(principal, Permission.SWARM_TASK, "intent")
        graph = plan.graph()
        info = await self._swarm.submit_graph(principal, graph)
        await self._guard.record(
            principal,
            "intent.run",
            target=info.id,
            source=plan.source,
            digest=plan.digest,
            steps=len(plan.steps),
            tools=plan.tools,
            summary=plan.summary,
        )
        return info
