"""The demo's fault injector: four named faults, each with start/stop, a state and
a definition of "recovered".

Faults are injected through the inputs the demo workload sends, never by
reaching into the engine: while a fault is active the workload adds a stream
of fault-shaped calls (``rate`` per second) to its normal traffic, and those
calls go through the same :class:`~chimera_engine.runtime.ToolRuntime` (or the
swarm) as every other call. Three of the four make a real defect in a demo
tool show; a patch to that tool is the cure. The fourth (``error_burst``) is
a transient burst of bad input that ends by itself.

States: ``idle`` (not injected) -> ``active`` (injected, symptom not seen yet)
-> ``degraded`` (the symptom shows) -> ``recovered`` (the recovery condition
below holds) ; ``stop`` returns to ``idle`` from any state. A fault fixed before
its symptom showed (preventive learning) goes from ``active`` to ``recovered``
once the last 5 fault calls ran on a version of the module newer than the one
active when the fault started, and the recovery condition holds.

The faults, with their exact failing behaviour
------------------------------------------------

``csv_shape`` -- a tool that starts raising on a new input shape.
    Tool ``clean_csv`` (module ``csv_cleaner``), 2 calls/s.
    Input: :func:`~chimera_engine.demo.inputs.semicolon_export` -- a
    spreadsheet export in a European locale: UTF-8 BOM (``\\ufeff``) before the
    header, ``;`` between cells, decimal commas in the amounts (``12,50``),
    CRLF line ends. The caller passes only ``text`` (``delimiter`` left at its
    default ``","``). Example::

        \\ufeffOrder ID;Customer;Amount;Currency\\r\\n
        2000;Ada Lovelace;12,50;EUR\\r\\n

    Failure: every such call raises ``ValueError("row 1 has 2 cells but the
    header has 1")`` (the header is one cell, the decimal comma splits each
    row into two). Symptom: any fault call fails. Fix (a patch to
    ``csv_cleaner.py``): when the caller keeps the default delimiter, strip a
    leading BOM and detect the delimiter from the header line (for example the
    most frequent of ``, ; \\t |``, or ``csv.Sniffer``), keeping the
    signature compatible and the workspace tests passing. Recovered: the last
    5 fault calls succeeded and returned ``columns == ["order_id", "customer",
    "amount", "currency"]`` with ``rows`` equal to the number of data rows
    (see :data:`~chimera_engine.demo.inputs.SEMICOLON_COLUMNS`).

``latency_leak`` -- a latency leak that grows.
    Tool ``parse_log`` (module ``log_parser``), 4 calls/s.
    Input: :func:`~chimera_engine.demo.inputs.traced_log` -- 80 lines, 80 %
    ERROR lines whose message ends with a unique request id
    (``db: connection refused (request 5f0c9b2e-...)``). Defect: ``parse_log``
    appends every error message it has not seen to the module-level list
    ``KNOWN_ERRORS`` and checks each error line against the whole list in a
    Python loop (``_is_known``, case-folded comparison). With normal logs the
    list holds six messages; with request ids every message is new, so the
    list grows by about 250 entries/s and each call scans all of it: latency
    grows without bound (tens of ms within a minute, then more). The list is
    carried over reloads (``__chimera_state__`` / ``__chimera_restore__``), so a
    reload alone does not cure it. No call fails. Symptom: the median latency
    of the last 10 fault calls exceeds ``max(5 x baseline, baseline + 5 ms)``,
    baseline being the median of the first 5 fault calls. Fix (a patch to
    ``log_parser.py``): bound the memory and make the lookup O(1) -- e.g. key a
    dict/set by the message with ids and numbers masked
    (``(request <id>)``), cap its size, and trim what ``__chimera_restore__``
    receives (a ``__chimera_migrate__`` if the state's shape changes); the
    ``new_errors`` output keeps reporting never-seen messages. Recovered: the
    median latency of the last 10 fault calls is back within
    ``max(2 x baseline, baseline + 2 ms)``.

``error_burst`` -- an error burst.
    Tool ``validate_json`` (module ``json_schema``), 6 calls/s for
    ``duration`` seconds (default 20), then the burst ends by itself.
    Input: a producer stuck in a loop sends documents nested 5,000 arrays deep
    (:func:`~chimera_engine.demo.inputs.nested_document`) with
    :data:`~chimera_engine.demo.inputs.ORDER_SCHEMA`. Failure: every such call
    raises ``RecursionError("maximum recursion depth exceeded while decoding a
    JSON array from a unicode string")`` from ``json.loads``; the tool's error
    rate jumps for the length of the burst. Symptom: any fault call fails. A
    patch is welcome but not needed (catch ``RecursionError`` next to
    ``JSONDecodeError`` and return ``{"valid": False, "errors": ["$: nested too
    deeply"]}``). Recovered: the burst is over (or the last 5 fault calls
    succeeded) and the last 10 normal ``validate_json`` calls succeeded.

``memory_creep`` -- a slow memory creep in an agent.
    Tool ``validate_json`` (module ``json_schema``) run as swarm tasks with
    role ``analyzer`` (the demo keeps one analyzer agent), 20 tasks/s.
    Input: a normal order document with a large schema
    (:func:`~chimera_engine.demo.inputs.stamped_schema`: 60 extra optional
    fields) that the producer stamps with a unique ``$id`` and generation
    time. Defect: ``validate_json`` keeps every prepared schema in the
    module-level dict ``_PREPARED`` keyed by the schema's full JSON text, so
    each stamped schema adds about 35-50 KB that is never freed: the analyzer
    agent's resident memory grows by about 1 MB/s (~60 MB/min) while every
    task succeeds. The demo records each agent's memory as metric
    ``agent.rss_mb{agent=<agent id>,role=<role>}`` every 2 s, with a threshold
    of :data:`AGENT_RSS_LIMIT_MB` for forecasts. Symptom: the analyzer's RSS
    grew by 15 MB or more since the fault started. Fix (a patch to
    ``json_schema.py``): key the cache on the schema without annotations
    (``$id``, ``$schema``, ``$comment``, ``title``, ``description``) and bound
    it (an LRU of a few hundred entries). Agents run the version the task
    names, so new tasks load the patched module; the old module object stays
    in the agent, so memory already taken is not given back. Recovered: over
    the last 15 s the analyzer's RSS grew by less than 2 MB while at least 50
    fault tasks finished (or a fresh analyzer agent holds the same line).
"""

from __future__ import annotations

import random
import statistics
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from chimera_engine.demo import inputs

AGENT_RSS_LIMIT_MB = 256.0
"""Forecast threshold of ``agent.rss_mb``: an agent above it is about to be in trouble."""


class FaultState(StrEnum):
    IDLE = "idle"
    ACTIVE = "active"
    DEGRADED = "degraded"
    RECOVERED = "recovered"


@dataclass(frozen=True, kw_only=True)
class FaultCall:
    """The outcome of one fault-shaped call."""

    at: float
    ok: bool
    duration_s: float
    result: Any = None
    error: str = ""
    version: int | None = None


@dataclass(frozen=True, kw_only=True)
class FaultStatus:
    """A snapshot of one fault, safe to hand to any thread or widget."""

    name: str
    title: str
    tool: str
    module: str
    via: str  # "runtime" or "swarm"
    state: str
    recovery: str
    started_at: float | None
    symptom_at: float | None
    recovered_at: float | None
    stopped_at: float | None
    calls: int
    failures: int
    detail: str


class Fault(ABC):
    """One named fault. The workload asks :meth:`arguments` for each fault call and
    reports each outcome to :meth:`observe`; :meth:`evaluate` moves the state."""

    name: ClassVar[str]
    title: ClassVar[str]
    tool: ClassVar[str]
    module: ClassVar[str]
    via: ClassVar[str] = "runtime"
    role: ClassVar[str] = "executor"
    recovery: ClassVar[str]
    rate: float = 2.0

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.start_version: int | None = None
        self.state = FaultState.IDLE
        self.started_at: float | None = None
        self.symptom_at: float | None = None
        self.recovered_at: float | None = None
        self.stopped_at: float | None = None
        self.calls: deque[FaultCall] = deque(maxlen=200)
        self.total = 0
        self.failures = 0
        self.detail = ""

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, version: int | None = None) -> None:
        """Start injecting; ``version`` is the module's active version now."""
        self.start_version = version
        self.state = FaultState.ACTIVE
        self.started_at = self._clock()
        self.symptom_at = self.recovered_at = self.stopped_at = None
        self.calls.clear()
        self.total = self.failures = 0
        self.detail = ""
        self.reset()

    def stop(self) -> None:
        self.state = FaultState.IDLE
        self.stopped_at = self._clock()

    @property
    def active(self) -> bool:
        return self.state is not FaultState.IDLE

    def injecting(self, now: float) -> bool:
        """Whether the workload should still send fault calls."""
        return self.active

    def reset(self) -> None:
        """Forget per-run observations (called by :meth:`start`)."""
        self.detail = ""

    # -- observations -----------------------------------------------------------------------
    @abstractmethod
    def arguments(self, rng: random.Random) -> dict[str, Any]:
        """The arguments of the next fault call."""

    def observe(self, call: FaultCall) -> None:
        self.calls.append(call)
        self.total += 1
        self.failures += not call.ok
        if not call.ok:
            self.detail = call.error[:200]

    def observe_normal(self, tool: str, ok: bool) -> None:
        """A normal (not fault-shaped) call finished; some faults look at those too."""
        del tool, ok

    def evaluate(self, agents: Sequence[Mapping[str, Any]] = ()) -> FaultState:
        """Move the state on: ``degraded`` once the symptom shows, ``recovered`` once
        the recovery condition holds after that. Cheap; called about every second."""
        if not self.active:
            return self.state
        now = self._clock()
        if self.symptom_at is None and self.symptom(agents):
            self.symptom_at = now
            self.state = FaultState.DEGRADED
        if self.symptom_at is not None or self._fixed_in_advance():
            if self.healthy(agents):
                if self.state is not FaultState.RECOVERED:
                    self.state = FaultState.RECOVERED
                    self.recovered_at = now
            elif self.state is FaultState.RECOVERED:
                self.state = FaultState.DEGRADED
                self.recovered_at = None
        return self.state

    def _fixed_in_advance(self) -> bool:
        """The last 5 fault calls ran on a newer version than the one at the start."""
        start = self.start_version
        recent = self.last(5)
        return (
            start is not None
            and bool(recent)
            and all(c.version is not None and c.version > start for c in recent)
        )

    @abstractmethod
    def symptom(self, agents: Sequence[Mapping[str, Any]]) -> bool: ...

    @abstractmethod
    def healthy(self, agents: Sequence[Mapping[str, Any]]) -> bool: ...

    def last(self, n: int) -> list[FaultCall]:
        return list(self.calls)[-n:] if len(self.calls) >= n else []

    def status(self) -> FaultStatus:
        return FaultStatus(
            name=self.name,
            title=self.title,
            tool=self.tool,
            module=self.module,
            via=self.via,
            state=self.state.value,
            recovery=self.recovery,
            started_at=self.started_at,
            symptom_at=self.symptom_at,
            recovered_at=self.recovered_at,
            stopped_at=self.stopped_at,
            calls=self.total,
            failures=self.failures,
            detail=self.detail,
        )


class CsvShapeFault(Fault):
    name = "csv_shape"
    title = "clean_csv raises on semicolon exports"
    tool = "clean_csv"
    module = "csv_cleaner"
    recovery = "the last 5 semicolon exports were parsed into the right columns and rows"
    rate = 2.0
    rows = 12

    def arguments(self, rng: random.Random) -> dict[str, Any]:
        return {"text": inputs.semicolon_export(rng, rows=self.rows)}

    def symptom(self, agents: Sequence[Mapping[str, Any]]) -> bool:
        return any(not c.ok for c in self.calls)

    def healthy(self, agents: Sequence[Mapping[str, Any]]) -> bool:
        recent = self.last(5)
        return bool(recent) and all(
            c.ok
            and isinstance(c.result, dict)
            and c.result.get("columns") == inputs.SEMICOLON_COLUMNS
            and c.result.get("rows") == self.rows
            for c in recent
        )


class LatencyLeakFault(Fault):
    name = "latency_leak"
    title = "parse_log slows down with every call"
    tool = "parse_log"
    module = "log_parser"
    recovery = "the median latency of the last 10 traced logs is back near its start"
    rate = 4.0

    def reset(self) -> None:
        self.baseline_ms: float | None = None

    def arguments(self, rng: random.Random) -> dict[str, Any]:
        return {"text": inputs.traced_log(rng, lines=80)}

    def _median_ms(self, calls: Sequence[FaultCall]) -> float:
        return statistics.median(c.duration_s for c in calls) * 1e3

    def observe(self, call: FaultCall) -> None:
        super().observe(call)
        if self.baseline_ms is None and len(self.calls) >= 5:
            self.baseline_ms = self._median_ms(list(self.calls)[:5])
            self.detail = f"baseline {self.baseline_ms:.2f} ms"

    def _recent_ms(self) -> float | None:
        recent = self.last(10)
        return self._median_ms(recent) if recent and self.baseline_ms is not None else None

    def symptom(self, agents: Sequence[Mapping[str, Any]]) -> bool:
        recent = self._recent_ms()
        if recent is None or self.baseline_ms is None:
            return False
        self.detail = f"median {recent:.1f} ms (baseline {self.baseline_ms:.2f} ms)"
        return recent > max(5 * self.baseline_ms, self.baseline_ms + 5.0)

    def healthy(self, agents: Sequence[Mapping[str, Any]]) -> bool:
        recent = self._recent_ms()
        if recent is None or self.baseline_ms is None:
            return False
        self.detail = f"median {recent:.1f} ms (baseline {self.baseline_ms:.2f} ms)"
        return recent <= max(2 * self.baseline_ms, self.baseline_ms + 2.0)


class ErrorBurstFault(Fault):
    name = "error_burst"
    title = "a burst of documents nested too deeply for validate_json"
    tool = "validate_json"
    module = "json_schema"
    recovery = "the burst is over and the last 10 normal validate_json calls succeeded"
    rate = 6.0
    duration = 20.0

    def reset(self) -> None:
        self.normal: deque[bool] = deque(maxlen=10)

    def injecting(self, now: float) -> bool:
        return self.active and self.started_at is not None and now < self.started_at + self.duration

    def arguments(self, rng: random.Random) -> dict[str, Any]:
        return {"document": inputs.nested_document(), "schema": inputs.ORDER_SCHEMA}

    def observe_normal(self, tool: str, ok: bool) -> None:
        if tool == self.tool and self.active:
            self.normal.append(ok)

    def symptom(self, agents: Sequence[Mapping[str, Any]]) -> bool:
        return any(not c.ok for c in self.calls)

    def healthy(self, agents: Sequence[Mapping[str, Any]]) -> bool:
        recent = self.last(5)
        over = not self.injecting(self._clock()) or (bool(recent) and all(c.ok for c in recent))
        return over and len(self.normal) == self.normal.maxlen and all(self.normal)


class MemoryCreepFault(Fault):
    name = "memory_creep"
    title = "the analyzer agent's memory creeps up"
    tool = "validate_json"
    module = "json_schema"
    via = "swarm"
    role = "analyzer"
    recovery = "the analyzer's memory grew by < 2 MB over 15 s while 50+ fault tasks finished"
    rate = 20.0
    grow_mb = 15.0
    window_s = 15.0
    flat_mb = 2.0

    def reset(self) -> None:
        self.samples: dict[str, deque[tuple[float, float]]] = {}
        self.first: dict[str, float] = {}

    def arguments(self, rng: random.Random) -> dict[str, Any]:
        return {"document": inputs.order_document(rng), "schema": inputs.stamped_schema(rng)}

    def _track(self, agents: Sequence[Mapping[str, Any]]) -> None:
        now = self._clock()
        for agent in agents:
            if agent.get("role") != self.role or agent.get("state") != "ready":
                continue
            aid = str(agent["id"])
            mb = float(agent.get("rss_bytes", 0)) / 2**20
            if mb <= 0:
                continue
            self.first.setdefault(aid, mb)
            self.samples.setdefault(aid, deque(maxlen=600)).append((now, mb))

    def growth(self) -> float:
        """MB the most-grown analyzer gained since the fault started."""
        return max(
            (self.samples[a][-1][1] - first for a, first in self.first.items() if self.samples[a]),
            default=0.0,
        )

    def symptom(self, agents: Sequence[Mapping[str, Any]]) -> bool:
        self._track(agents)
        grown = self.growth()
        self.detail = f"analyzer memory +{grown:.1f} MB"
        return grown >= self.grow_mb

    def healthy(self, agents: Sequence[Mapping[str, Any]]) -> bool:
        if self.symptom_at is not None:
            self._track(agents)
            self.detail = f"analyzer memory +{self.growth():.1f} MB"
        now = self._clock()
        since = now - self.window_s
        finished = sum(1 for c in self.calls if c.at >= since and c.ok)
        if finished < 50:
            return False
        for series in self.samples.values():
            window = [mb for t, mb in series if t >= since]
            if not window or series[0][0] > since:
                continue
            if window[-1] - window[0] < self.flat_mb:
                self.detail = f"analyzer memory flat ({window[-1]:.0f} MB)"
                return True
        return False


FAULTS: dict[str, type[Fault]] = {
    f.name: f for f in (CsvShapeFault, LatencyLeakFault, ErrorBurstFault, MemoryCreepFault)
}
"""Every fault by name, in the order the demo schedule runs them."""
