"""IntentCompiler: an operator's request, as a structured form, -> an :class:`IntentPlan`.

Two forms, both checked against the workspace's tool signatures before anything
runs:

* a **pipeline**: ``{"tool", "inputs", "over", "then", "summary"}``. ``over``
  fans the first tool out, one task per workspace file (``{"param": "text",
  "files": "inbox/*.csv"}``; a folder means every file in it) or per item
  (``{"param": "url", "items": [...]}``). Each stage of ``then``
  (``{"tool", "param", "key", "inputs"}``) runs once per result of the stage
  before, receiving it under ``param`` (``key`` takes one field of it). An
  optional ``summary`` (same fields) receives every last result as one list.
* explicit **steps**: ``{"steps": [{"id", "tool", "inputs", "depends_on"}],
  "outputs": [...]}`` with ``{"$ref": "<step id>"}`` inputs.

In both, an input ``{"$file": "schemas/s.json"}`` is read from the workspace
(JSON for a dict or list parameter, text for a string one). A result goes to a
string parameter as JSON text when the producing tool does not return a
string. Refusals (:class:`IntentError`) name the reason: an unknown tool or
input, a missing input, a type that does not fit, a path outside the workspace,
no matching files, a cycle. Reads files: call :meth:`compile` from a worker
thread (the facade does), with a snapshot of the tools taken on the loop.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chimera_engine.errors import ValidationError
from chimera_engine.intent.plan import FileInput, IntentError, IntentPlan, PlanStep
from chimera_engine.modules.models import ToolVersion
from chimera_engine.swarm.errors import DecompositionError
from chimera_engine.swarm.graph import topological
from chimera_engine.swarm.models import Task, as_ref

MAX_FILES = 500
MAX_FILE_BYTES = 1 << 20
MAX_TOTAL_BYTES = 16 << 20
MAX_STEPS = 2000
_PIPELINE_KEYS = frozenset({"tool", "inputs", "over", "then", "summary"})
_STAGE_KEYS = frozenset({"tool", "param", "key", "inputs"})
_STEP_KEYS = frozenset({"id", "tool", "inputs", "depends_on"})
_SIMPLE = {"str": str, "int": int, "float": float, "bool": bool, "dict": dict, "list": list}


def returns(tool: ToolVersion) -> type | None:
    """The simple type a tool's return annotation names (None when unknown or a union)."""
    annotation = tool.signature.return_annotation
    if annotation is inspect.Signature.empty:
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if "|" in text or "Optional" in text or "Union" in text:
        return None
    return _SIMPLE.get(text.split("[")[0].strip().removeprefix("typing.").lower())


class IntentCompiler:
    """Compiles requests for one workspace (``root``) and tool set (``tools``: name ->
    active version, a snapshot)."""

    def __init__(self, root: Path, tools: Mapping[str, ToolVersion]) -> None:
        self.root = root.resolve()
        self.tools = dict(tools)
        self._read_bytes = 0

    # -- entry -----------------------------------------------------------------------------
    def compile(
        self, form: Mapping[str, Any], *, source: str = "form", request: Any = None
    ) -> IntentPlan:
        if not isinstance(form, Mapping):
            raise IntentError("a request is an object (a pipeline or steps)")
        if "steps" in form:
            steps, outputs, summary = self._steps_form(form)
        else:
            steps, outputs, summary = self._pipeline(form)
        if len(steps) > MAX_STEPS:
            raise IntentError(f"the plan has {len(steps)} steps; at most {MAX_STEPS}")
        return IntentPlan(
            request=form if request is None else request,
            source=source,
            summary=summary,
            steps=tuple(steps),
            outputs=tuple(outputs),
        )

    # -- tools and inputs ---------------------------------------------------------------------
    def tool(self, name: Any) -> ToolVersion:
        if not isinstance(name, str) or name not in self.tools:
            known = ", ".join(sorted(self.tools)) or "none"
            raise IntentError(f"unknown tool {name!r}; the workspace has: {known}")
        return self.tools[name]

    def path(self, text: Any) -> Path:
        """A path inside the workspace, or IntentError."""
        if not isinstance(text, str) or not text.strip() or "\x00" in text:
            raise IntentError("a path must be a non-empty string")
        path = (self.root / text).resolve()
        if not path.is_relative_to(self.root):
            raise IntentError(f"{text!r} is outside the workspace")
        return path

    def find(self, text: Any) -> Path:
        """A named file: as given, else (a bare name) ``schemas/<name>.json`` or
        ``<name>.json``."""
        path = self.path(text)
        if path.exists() or Path(text).suffix:
            return path
        for candidate in (f"schemas/{text}.json", f"{text}.json"):
            found = self.path(candidate)
            if found.is_file():
                return found
        return path

    def files(self, pattern: Any) -> list[Path]:
        """Files matching a folder (every file in it), a glob or a list of file names,
        inside the workspace."""
        if isinstance(pattern, list) and pattern:
            if len(pattern) > MAX_FILES:
                raise IntentError(f"{len(pattern)} files named; at most {MAX_FILES}")
            return [p for name in pattern for p in self.files(name)]
        if not isinstance(pattern, str) or ".." in Path(pattern).parts:
            raise IntentError(f"{pattern!r} is outside the workspace")
        base = self.path(pattern.rstrip("/") or ".")
        if base.is_dir():
            found = sorted(p for p in base.iterdir() if p.is_file())
        elif any(c in pattern for c in "*?["):
            if Path(pattern).is_absolute():
                raise IntentError(f"{pattern!r} must be relative to the workspace")
            found = sorted(p for p in self.root.glob(pattern) if p.is_file())
        else:
            found = [base] if base.is_file() else []
        found = [p for p in found if p.resolve().is_relative_to(self.root)]
        if not found:
            raise IntentError(f"no files match {pattern!r} in the workspace")
        if len(found) > MAX_FILES:
            raise IntentError(f"{len(found)} files match {pattern!r}; at most {MAX_FILES}")
        return found

    def read(self, path: Path, expected: type | None) -> FileInput:
        rel = path.relative_to(self.root).as_posix()
        if not path.is_file():
            raise IntentError(f"no file {rel!r} in the workspace")
        path = path.resolve()
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IntentError(f"{rel} is {size} bytes; at most {MAX_FILE_BYTES}")
        self._read_bytes += size
        if self._read_bytes > MAX_TOTAL_BYTES:
            raise IntentError(f"the request reads more than {MAX_TOTAL_BYTES} bytes of files")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise IntentError(f"{rel} is not UTF-8 text") from None
        value: Any = text
        if expected in (dict, list) or (expected is None and path.suffix == ".json"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise IntentError(f"{rel} is not JSON: {exc.msg} (line {exc.lineno})") from None
            if expected is not None and not isinstance(value, expected):
                raise IntentError(
                    f"{rel} holds a {type(value).__name__}, not a {expected.__name__}"
                )
        return FileInput(path=rel, size=size, value=value)

    def literals(self, tool: ToolVersion, inputs: Any) -> dict[str, Any]:
        """Literal inputs of ``tool`` with ``$file`` inputs read; names and types checked."""
        if inputs is None:
            return {}
        if not isinstance(inputs, Mapping):
            raise IntentError(f"inputs of {tool.name} must be an object")
        out: dict[str, Any] = {}
        for name, value in inputs.items():
            self._param(tool, name)
            expected = tool.param_types.get(name)
            if isinstance(value, Mapping) and set(value) == {"$file"}:
                out[name] = self.read(self.find(value["$file"]), expected)
                continue
            if as_ref(value) is None:
                _check_type(tool, name, value, expected)
            out[name] = value
        return out

    def _param(self, tool: ToolVersion, name: Any) -> None:
        if not isinstance(name, str):
            raise IntentError(f"an input name of {tool.name} must be a string")
        params = tool.signature.parameters
        if name in params:
            return
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return
        raise IntentError(
            f"{tool.name} has no input {name!r}; it takes {', '.join(params) or 'nothing'}"
        )

    def receiver(self, tool: ToolVersion, param: Any, taken: Mapping[str, Any]) -> str:
        """The parameter receiving a result (the first required one not given)."""
        if param is not None:
            self._param(tool, param)
            return str(param)
        for name, p in tool.signature.parameters.items():
            if (
                name not in taken
                and p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ):
                return name
        raise IntentError(f"{tool.name} takes no further input to receive a result")

    def link(
        self, producer: ToolVersion, consumer: ToolVersion, param: str, key: Any, many: bool
    ) -> tuple[dict[str, Any], str]:
        """The placeholder options carrying ``producer``'s result(s) to ``consumer.param``
        and how the plan shows it; IntentError when the types cannot fit."""
        options: dict[str, Any] = {}
        made = returns(producer)
        if key is not None:
            if not isinstance(key, str) or not key:
                raise IntentError("key must be a field name")
            if made is not None and made is not dict:
                raise IntentError(
                    f"{producer.name} returns {made.__name__}: it has no field {key!r}"
                )
            options["$key"], made = key, None
        if many:
            made = list
        wanted = consumer.param_types.get(param)
        shown = f".{key}" if key else ""
        if wanted is str and made is not str:
            options["$as"] = "json"
            return options, f"{shown} as JSON text"
        if wanted is None or made is None or wanted is made or (wanted is float and made is int):
            return options, shown
        raise IntentError(
            f"{producer.name} returns {'a list of results' if many else made.__name__}, but "
            f"{consumer.name}'s input {param!r} takes {wanted.__name__}"
        )

    def complete(self, tool: ToolVersion, given: Sequence[str]) -> None:
        missing = [
            name
            for name, p in tool.signature.parameters.items()
            if p.default is p.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and name not in given
        ]
        if missing:
            raise IntentError(f"{tool.name} needs the input(s) {', '.join(missing)}")

    # -- the pipeline form -----------------------------------------------------------------------
    def _pipeline(self, form: Mapping[str, Any]) -> tuple[list[PlanStep], list[str], str]:
        _keys(form, _PIPELINE_KEYS, "the request")
        first = self.tool(form.get("tool"))
        fixed = self.literals(first, form.get("inputs"))
        steps: list[PlanStep] = []
        used: set[str] = set()
        over = form.get("over")
        if over is None:
            self.complete(first, list(fixed))
            steps.append(
                PlanStep(
                    id=_name(first.name, 1, used), tool=first.name, inputs=fixed, note="one call"
                )
            )
            fan = "once"
        else:
            if not isinstance(over, Mapping):
                raise IntentError("over must be an object: {param, files} or {param, items}")
            _keys(over, {"param", "files", "items"}, "over")
            param = self.receiver(first, over.get("param"), fixed)
            expected = first.param_types.get(param)
            if ("files" in over) == ("items" in over):
                raise IntentError("over names either files or items")
            if "files" in over:
                values: list[Any] = [self.read(p, expected) for p in self.files(over["files"])]
                what = f"{len(values)} file(s) of {_label(over['files'])}"
            else:
                items = over["items"]
                if not isinstance(items, list) or not items:
                    raise IntentError("over.items must be a non-empty list")
                if len(items) > MAX_FILES:
                    raise IntentError(f"over.items holds {len(items)} items; at most {MAX_FILES}")
                for item in items:
                    _check_type(first, param, item, expected)
                values, what = list(items), f"{len(items)} item(s)"
            self.complete(first, [*fixed, param])
            for n, value in enumerate(values, start=1):
                label = value.path if isinstance(value, FileInput) else json.dumps(value)[:60]
                steps.append(
                    PlanStep(
                        id=_name(first.name, n, used),
                        tool=first.name,
                        inputs={**fixed, param: value},
                        note=f"{param} <- {label}",
                    )
                )
            fan = f"over {what}"
        parts = [f"{first.name} {fan}"]
        last, producer = [s.id for s in steps], first
        stages = form.get("then") or []
        if not isinstance(stages, list):
            raise IntentError("then must be a list of stages")
        for stage in stages:
            tool, inputs, param, key = self._stage(stage, "then")
            options, how = self.link(producer, tool, param, key, many=False)
            self.complete(tool, [*inputs, param])
            made = []
            for n, source in enumerate(last, start=1):
                made.append(
                    PlanStep(
                        id=_name(tool.name, n, used),
                        tool=tool.name,
                        inputs={**inputs, param: {"$ref": source, **options}},
                        depends_on=(source,),
                        note=f"{param} <- {source}{how}",
                    )
                )
            steps.extend(made)
            parts.append(f"then {tool.name} on each result{_with(inputs)}")
            last, producer = [s.id for s in made], tool
        summary = form.get("summary")
        if summary is not None:
            tool, inputs, param, key = self._stage(summary, "summary")
            options, how = self.link(producer, tool, param, key, many=True)
            self.complete(tool, [*inputs, param])
            step = PlanStep(
                id=_name(f"{tool.name}-summary", 0, used),
                tool=tool.name,
                inputs={**inputs, param: {"$refs": list(last), **options}},
                depends_on=tuple(last),
                note=f"{param} <- all {len(last)} result(s){how}",
            )
            steps.append(step)
            parts.append(f"then one {tool.name} over all results{_with(inputs)}")
            last = [step.id]
        return steps, last, ", ".join(parts)

    def _stage(self, stage: Any, what: str) -> tuple[ToolVersion, dict[str, Any], str, Any]:
        if not isinstance(stage, Mapping):
            raise IntentError(f"{what}: each stage is an object {{tool, param, key, inputs}}")
        _keys(stage, _STAGE_KEYS, what)
        tool = self.tool(stage.get("tool"))
        inputs = self.literals(tool, stage.get("inputs"))
        param = self.receiver(tool, stage.get("param"), inputs)
        if param in inputs:
            raise IntentError(f"{what}: {tool.name}'s input {param!r} is both given and received")
        return tool, inputs, param, stage.get("key")

    # -- the steps form ---------------------------------------------------------------------------
    def _steps_form(self, form: Mapping[str, Any]) -> tuple[list[PlanStep], list[str], str]:
        _keys(form, {"steps", "outputs"}, "the request")
        raw = form["steps"]
        if not isinstance(raw, list) or not raw:
            raise IntentError("steps must be a non-empty list")
        steps: list[PlanStep] = []
        seen: dict[str, ToolVersion] = {}
        for n, item in enumerate(raw):
            if not isinstance(item, Mapping):
                raise IntentError(f"step {n} is not an object")
            _keys(item, _STEP_KEYS, f"step {n}")
            sid = item.get("id") or f"step{n + 1}"
            if not isinstance(sid, str) or not sid.replace("-", "").replace("_", "").isalnum():
                raise IntentError(f"step {n}: id must be letters, digits, - and _")
            if sid in seen:
                raise IntentError(f"two steps have the id {sid!r}")
            tool = self.tool(item.get("tool"))
            seen[sid] = tool
            inputs = self.literals(tool, item.get("inputs"))
            deps = item.get("depends_on") or []
            if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
                raise IntentError(f"step {sid}: depends_on must be a list of step ids")
            refs = sorted({r for v in inputs.values() if (x := as_ref(v)) for r in x[1]})
            self.complete(tool, list(inputs))
            steps.append(
                PlanStep(
                    id=sid,
                    tool=tool.name,
                    inputs=inputs,
                    depends_on=tuple(dict.fromkeys([*deps, *refs])),
                    note=", ".join(
                        f"{k} <- {', '.join(x[1])}" for k, v in inputs.items() if (x := as_ref(v))
                    ),
                )
            )
        for step in steps:
            for dep in step.depends_on:
                if dep not in seen:
                    raise IntentError(f"step {step.id} depends on unknown step {dep!r}")
            for name, value in step.inputs.items():
                ref = as_ref(value)
                if ref is not None and not ref[0]:
                    self.link(seen[ref[1][0]], seen[step.id], name, value.get("$key"), many=False)
        try:
            topological({s.id: Task(id=s.id, tool=s.tool, depends_on=s.depends_on) for s in steps})
        except (DecompositionError, ValidationError) as exc:
            raise IntentError(str(exc)) from None
        outputs = form.get("outputs")
        if outputs is None:
            needed = {d for s in steps for d in s.depends_on}
            outputs = [s.id for s in steps if s.id not in needed]
        if not isinstance(outputs, list) or not all(
            isinstance(o, str) and o in seen for o in outputs
        ):
            raise IntentError("outputs must list step ids of the plan")
        summary = f"{len(steps)} step(s): " + ", ".join(dict.fromkeys(s.tool for s in steps))
        return steps, list(outputs), summary


def _keys(value: Mapping[str, Any], allowed: set[str] | frozenset[str], what: str) -> None:
    unknown = sorted(str(k) for k in set(value) - set(allowed))
    if unknown:
        raise IntentError(f"{what}: unknown field(s) {', '.join(unknown)}")


def _check_type(tool: ToolVersion, name: str, value: Any, expected: type | None) -> None:
    if expected is None:
        return
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is float and is_number:
        return
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return
    raise IntentError(
        f"{tool.name}'s input {name!r} takes {expected.__name__}, not {type(value).__name__}"
    )


def _name(base: str, n: int, used: set[str]) -> str:
    name = f"{base}-{n}" if n else base
    k = 2
    while name in used:
        name = f"{base}{k}-{n}" if n else f"{base}{k}"
        k += 1
    used.add(name)
    return name


def _with(inputs: Mapping[str, Any]) -> str:
    files = [v.path for v in inputs.values() if isinstance(v, FileInput)]
    return f" (with {', '.join(files)})" if files else ""


def _label(files: Any) -> str:
    return ", ".join(map(str, files)) if isinstance(files, list) else str(files)
