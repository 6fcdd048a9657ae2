"""Data models of the swarm: agent specs, tasks, their states and the snapshots callers get.

Everything a caller hands in (:class:`AgentSpec`, :class:`Task`) is a frozen
dataclass checked by ``validate()``; everything handed back (:class:`TaskInfo`,
:class:`AgentInfo`) is a frozen snapshot, safe to pass to any thread or widget.
Task inputs and results must be JSON values: they cross process boundaries
and are persisted.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chimera_engine.errors import ValidationError

ROLES = ("analyzer", "executor", "tester", "reviewer")
"""The usual roles. Any name matching :data:`ROLE_NAME` is accepted."""

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_REDUNDANCY = 16


def new_id() -> str:
    return uuid.uuid4().hex


class TaskState(StrEnum):
    """``pending`` waits for its dependencies or an agent; ``assigned`` is sent to an
    agent; ``running`` has started there; ``reassigned`` lost its agent and waits for
    another. ``succeeded``, ``failed``, ``cancelled`` and ``quarantined`` (a poisoned
    task that killed or hung ``max_attempts`` agents) are final."""

    PENDING = "pending"
    ASSIGNED = "assigned"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REASSIGNED = "reassigned"
    QUARANTINED = "quarantined"

    @property
    def final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED, TaskState.QUARANTINED}
)
UNFINISHED = (TaskState.PENDING, TaskState.ASSIGNED, TaskState.RUNNING, TaskState.REASSIGNED)


class AgentState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    KILLED = "killed"
    DEAD = "dead"
    REFUSED = "refused"

    @property
    def final(self) -> bool:
        return self in (AgentState.STOPPED, AgentState.KILLED, AgentState.DEAD, AgentState.REFUSED)


class ConsensusMethod(StrEnum):
    MAJORITY = "majority"
    WEIGHTED = "weighted"
    UNANIMOUS = "unanimous"
    QUORUM = "quorum"


@dataclass(frozen=True, kw_only=True)
class ConsensusPolicy:
    """How redundant results are compared and decided.

    ``threshold`` is used by ``quorum``: the winning value must hold at least
    that fraction of the expected votes. ``tolerance`` switches comparison from
    exact equality to numbers within an absolute tolerance (also inside lists
    and dicts of numbers).
    """

    method: ConsensusMethod = ConsensusMethod.MAJORITY
    threshold: float = 2 / 3
    tolerance: float | None = None

    def validate(self) -> ConsensusPolicy:
        if not 0.0 < self.threshold <= 1.0:
            raise ValidationError("consensus threshold must be in (0, 1]")
        if self.tolerance is not None and (self.tolerance < 0 or math.isnan(self.tolerance)):
            raise ValidationError("consensus tolerance must be a non-negative number")
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method.value,
            "threshold": self.threshold,
            "tolerance": self.tolerance,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsensusPolicy:
        try:
            method = ConsensusMethod(data.get("method", "majority"))
        except ValueError:
            names = ", ".join(m.value for m in ConsensusMethod)
            raise ValidationError(f"unknown consensus method; expected one of {names}") from None
        tol = data.get("tolerance")
        return cls(
            method=method,
            threshold=float(data.get("threshold", 2 / 3)),
            tolerance=None if tol is None else float(tol),
        ).validate()


def check_role(role: str) -> str:
    if not isinstance(role, str) or not ROLE_NAME.match(role):
        raise ValidationError(f"{role!r} is not a valid role name (e.g. {', '.join(ROLES)})")
    return role


@dataclass(frozen=True, kw_only=True)
class AgentSpec:
    """What kind of agent to start. ``concurrency`` is how many tasks it runs at once;
    ``env`` adds environment variables to the agent process."""

    role: str = "executor"
    capabilities: frozenset[str] = frozenset()
    concurrency: int = 4
    env: Mapping[str, str] = field(default_factory=dict)

    def validate(self) -> AgentSpec:
        check_role(self.role)
        if not 1 <= self.concurrency <= 256:
            raise ValidationError("agent concurrency must be 1-256")
        return self


def check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} must be JSON values: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class Task:
    """One unit of work: a workspace ``tool`` (at ``tool_version``, or the version active
    when it is dispatched) or a ``prompt`` (run by the configured prompt tool).

    ``deadline`` is wall-clock epoch seconds; ``timeout`` bounds one attempt.
    Tasks sharing an ``idempotency_key`` are one task: a second submission
    returns the first, and its result is recorded once. ``redundancy`` > 1 runs
    that many replicas on distinct agents and decides by ``consensus``.
    ``retries`` allows extra attempts after the tool raised; ``max_attempts``
    (default: the setting) is the poison threshold for attempts lost to dead or
    hung agents. An input ``{"$ref": "<task id>"}`` is replaced by that task's
    result and ``{"$refs": [...]}`` by a list of results (dependencies implied;
    ``$key``/``$as`` options shape them, see :func:`as_ref`).
    """

    tool: str | None = None
    prompt: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_id)
    role: str = "executor"
    requires: frozenset[str] = frozenset()
    priority: int = 0
    deadline: float | None = None
    idempotency_key: str = ""
    redundancy: int = 1
    consensus: ConsensusPolicy = field(default_factory=ConsensusPolicy)
    tool_version: int | None = None
    depends_on: tuple[str, ...] = ()
    timeout: float | None = None
    max_attempts: int | None = None
    retries: int = 0
    graph_id: str = ""

    @property
    def key(self) -> str:
        """The idempotency key (the task id when none was given)."""
        return self.idempotency_key or self.id

    def references(self) -> set[str]:
        """Task ids named by ``$ref``/``$refs`` inputs."""
        found: set[str] = set()
        for value in self.inputs.values():
            ref = as_ref(value)
            if ref is not None:
                found.update(ref[1])
        return found

    def validate(self) -> Task:
        if (self.tool is None) == (self.prompt is None):
            raise ValidationError("a task names exactly one of a tool or a prompt")
        if self.tool is not None and not self.tool.strip():
            raise ValidationError("tool name is empty")
        if not isinstance(self.id, str) or not 1 <= len(self.id) <= 128:
            raise ValidationError("task id must be 1-128 characters")
        check_role(self.role)
        if not isinstance(self.inputs, Mapping) or not all(isinstance(k, str) for k in self.inputs):
            raise ValidationError("task inputs must be a mapping of names to values")
        check_json(dict(self.inputs), "task inputs")
        if not 1 <= self.redundancy <= MAX_REDUNDANCY:
            raise ValidationError(f"redundancy must be 1-{MAX_REDUNDANCY}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValidationError("timeout must be positive")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValidationError("max_attempts must be at least 1")
        if self.retries < 0:
            raise ValidationError("retries must not be negative")
        if self.id in self.depends_on or self.id in self.references():
            raise ValidationError(f"task {self.id} depends on itself")
        self.consensus.validate()
        return self


_REF_OPTIONS = frozenset({"$key", "$as"})


def as_ref(value: Any) -> tuple[bool, list[str]] | None:
    """``(many, ids)`` if ``value`` is a ``$ref``/``$refs`` placeholder, else None.
    A placeholder may add ``"$key": name`` (take that field of each result) and
    ``"$as": "json"`` (pass the value as JSON text); see :func:`shape_ref`."""
    if isinstance(value, dict) and value and set(value) - {"$ref", "$refs"} <= _REF_OPTIONS:
        if not isinstance(value.get("$key", ""), str) or value.get("$as", "json") != "json":
            return None
        if isinstance(value.get("$ref"), str) and "$refs" not in value:
            return False, [value["$ref"]]
        refs = value.get("$refs")
        if isinstance(refs, list) and all(isinstance(r, str) for r in refs) and "$ref" not in value:
            return True, list(refs)
    return None


def shape_ref(placeholder: Mapping[str, Any], results: list[Any], many: bool) -> Any:
    """The input a placeholder stands for, given its dependencies' ``results``.

    >>> shape_ref({"$refs": ["a", "b"], "$key": "n", "$as": "json"}, [{"n": 1}, {"n": 2}], True)
    '[1, 2]'
    """
    key = placeholder.get("$key")
    if key is not None:
        if not all(isinstance(r, dict) and key in r for r in results):
            raise ValidationError(f"a dependency's result has no field {key!r}")
        results = [r[key] for r in results]
    value = results if many else results[0]
    return json.dumps(value, sort_keys=True) if placeholder.get("$as") == "json" else value


@dataclass(frozen=True, kw_only=True)
class TaskInfo:
    """A snapshot of one task. ``result`` is its JSON value once ``succeeded``;
    ``error_code`` says why it did not (tool_error, invalid_input, timeout,
    load_error, not_json, quarantined, no_consensus, tie, deadline, cancelled,
    dependency_failed, unknown_tool). ``duplicate`` is True when a submission
    matched an existing idempotency key and this is the earlier task. ``depends_on``
    names the tasks it waits for (explicit dependencies and ``$ref`` inputs)."""

    id: str
    graph_id: str
    tool: str | None
    tool_version: int | None
    prompt: str | None
    role: str
    state: TaskState
    priority: int
    idempotency_key: str
    attempts: int
    crashes: int
    agent: str
    result: Any
    error: str
    error_code: str
    consensus: dict[str, Any] | None
    created_at: float
    updated_at: float
    finished_at: float | None
    deadline: float | None
    duplicate: bool = False
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AgentInfo:
    """A snapshot of one agent. ``reputation`` is in (0, 1]; ``in_flight`` counts the
    tasks it holds (running or queued on it). ``rss_bytes`` and ``cpu_percent`` (of one
    core; None until measured) are sampled at most once a second by the backend;
    ``last_heartbeat`` is wall-clock epoch seconds."""

    id: str
    role: str
    capabilities: tuple[str, ...]
    concurrency: int
    backend: str
    state: AgentState
    pid: int | None
    host: str
    started_at: float
    ready_at: float | None
    last_heartbeat: float | None
    in_flight: int
    completed: int
    failed: int
    reputation: float
    rss_bytes: int
    reason: str = ""
    cpu_percent: float | None = None

    def heartbeat_age(self, now: float) -> float | None:
        """Seconds since the last heartbeat at wall-clock ``now`` (None: none yet).

        >>> from dataclasses import replace
        >>> info = AgentInfo(id="a", role="executor", capabilities=(), concurrency=1,
        ...     backend="local", state=AgentState.READY, pid=None, host="", started_at=0.0,
        ...     ready_at=None, last_heartbeat=100.0, in_flight=0, completed=0, failed=0,
        ...     reputation=0.5, rss_bytes=0)
        >>> info.heartbeat_age(102.5), replace(info, last_heartbeat=None).heartbeat_age(1.0)
        (2.5, None)
        """
        if self.last_heartbeat is None:
            return None
        return max(0.0, now - self.last_heartbeat)
