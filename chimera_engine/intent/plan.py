"""What the IntentCompiler hands back: a plan an operator reads before anything runs.

A plan is a list of steps (one task each): the tool, its inputs, the steps it
waits for, and a note saying where its inputs come from. Inputs that came from
workspace files are shown by file name and size, never inlined, in
:meth:`IntentPlan.to_json`; the plan keeps their content to run with.
:meth:`IntentPlan.graph` turns it into a swarm task graph with fresh task ids.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chimera_engine.errors import ValidationError
from chimera_engine.swarm.graph import TaskGraph
from chimera_engine.swarm.models import Task, as_ref, new_id


class IntentError(ValidationError):
    """A request the compiler cannot map; the message says why (unknown tool, inputs
    that do not fit its signature, a path outside the workspace, a cycle...)."""

    code = "intent_refused"


@dataclass(frozen=True, kw_only=True)
class FileInput:
    """An input read from a workspace file: shown by ``path``, run with ``value``."""

    path: str
    size: int
    value: Any


@dataclass(frozen=True, kw_only=True)
class PlanStep:
    """One task of the plan. ``inputs`` holds literal values, :class:`FileInput` and
    ``$ref``/``$refs`` placeholders naming other steps."""

    id: str
    tool: str
    inputs: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    note: str = ""

    def shown(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tool": self.tool,
            "inputs": {k: _shown(v) for k, v in self.inputs.items()},
            "depends_on": list(self.depends_on),
            "note": self.note,
        }


def _shown(value: Any) -> Any:
    if isinstance(value, FileInput):
        return {"$file": value.path, "bytes": value.size}
    return value


def _runnable(value: Any) -> Any:
    return value.value if isinstance(value, FileInput) else value


@dataclass(frozen=True, kw_only=True)
class IntentPlan:
    """A compiled request. ``source`` is ``form`` (a structured request), ``rules``
    (plain language read by the built-in rules) or ``provider`` (plain language
    planned by the configured model, then checked like a form); ``provider`` names
    the model and ``replay`` marks a scripted answer."""

    request: Any
    source: str
    summary: str
    steps: tuple[PlanStep, ...]
    outputs: tuple[str, ...]
    provider: str = ""
    replay: bool = False
    warnings: tuple[str, ...] = field(default=())

    @property
    def tools(self) -> list[str]:
        return sorted({s.tool for s in self.steps})

    @property
    def digest(self) -> str:
        """A hash of what would run (file contents included): the plan an operator saw
        is the plan that runs, or the run is refused."""
        runnable = [
            {**s.shown(), "inputs": {k: _runnable(v) for k, v in s.inputs.items()}}
            for s in self.steps
        ]
        text = json.dumps(runnable, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "provider": self.provider,
            "replay": self.replay,
            "summary": self.summary,
            "tools": self.tools,
            "steps": [s.shown() for s in self.steps],
            "outputs": list(self.outputs),
            "warnings": list(self.warnings),
            "digest": self.digest,
        }

    def describe(self) -> str:
        """The plan as text, one line per step (for the CLI)."""
        lines = [self.summary, ""]
        wid = max(len(s.id) for s in self.steps)
        wtool = max(len(s.tool) for s in self.steps)
        for step in self.steps:
            after = f"  (after {', '.join(step.depends_on)})" if step.depends_on else ""
            lines.append(f"  {step.id:<{wid}}  {step.tool:<{wtool}}  {step.note}{after}")
        lines.append("")
        lines.append(f"outputs: {', '.join(self.outputs)}")
        lines.extend(f"warning: {w}" for w in self.warnings)
        if self.source == "provider":
            lines.append(
                f"planned by {self.provider}{' (a scripted answer)' if self.replay else ''}"
            )
        return "\n".join(lines)

    def graph(self) -> TaskGraph:
        """The swarm task graph: fresh task ids (``<graph>-<step>``), references
        rewritten to them. Checked for cycles again."""
        graph = TaskGraph()
        prefix = new_id()[:12]
        ids = {s.id: f"{prefix}-{s.id}" for s in self.steps}
        for step in self.steps:
            inputs: dict[str, Any] = {}
            for name, value in step.inputs.items():
                ref = as_ref(value)
                if ref is None:
                    inputs[name] = _runnable(value)
                elif ref[0]:
                    inputs[name] = {**value, "$refs": [ids[r] for r in ref[1]]}
                else:
                    inputs[name] = {**value, "$ref": ids[ref[1][0]]}
            graph.add(
                Task(
                    id=ids[step.id],
                    tool=step.tool,
                    inputs=inputs,
                    depends_on=tuple(ids[d] for d in step.depends_on),
                )
            )
        graph.outputs = [ids[o] for o in self.outputs]
        graph.order()
        return graph
