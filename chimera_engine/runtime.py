"""ToolRuntime: the one way tools are called.

``await runtime.call("clean_csv", {"text": ...}, principal)`` resolves the
active version (or an explicit one), checks the arguments against the tool's
signature, runs it (async tools on the loop, sync tools in a thread pool) with
a timeout, and publishes a :class:`CallRecord` for the metrics. The version a
call starts on is the version it finishes on, whatever reloads meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chimera_engine.errors import ChimeraError, ValidationError
from chimera_engine.events import EventBus, ToolCallCompleted
from chimera_engine.modules.models import CallRecord, ToolVersion, VersionState
from chimera_engine.modules.registry import VersionedToolRegistry
from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal

Authorize = Callable[[Principal, Permission, str], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class FailedCall:
    """A failed call kept as evidence for a fix: inputs, error and traceback."""

    tool: str
    module: str
    version: int
    args: dict[str, Any]
    exception_type: str
    message: str
    traceback: str
    at: float


class ToolCallError(ChimeraError):
    """The tool raised. ``record`` describes the call; the cause is chained."""

    code = "tool_error"

    def __init__(self, message: str, record: CallRecord) -> None:
        super().__init__(message)
        self.record = record


class ToolTimeoutError(ToolCallError):
    code = "tool_timeout"


def check_arguments(tv: ToolVersion, args: Mapping[str, Any]) -> None:
    """Refuse arguments that do not fit the tool's signature or its simple type hints."""
    try:
        tv.signature.bind(**args)
    except TypeError as exc:
        raise ValidationError(f"arguments do not match {tv.name}{tv.signature}: {exc}") from None
    for name, value in args.items():
        expected = tv.param_types.get(name)
        if expected is None:
            continue
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if expected is float and is_number:
            continue
        if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
            continue
        raise ValidationError(
            f"argument {name!r} of {tv.name} must be {expected.__name__}, "
            f"got {type(value).__name__}"
        )


class ToolRuntime:
    def __init__(
        self,
        registry: VersionedToolRegistry,
        bus: EventBus,
        authorize: Authorize,
        *,
        default_timeout: float = 30.0,
        threads: int = 8,
    ) -> None:
        self.registry = registry
        self._bus = bus
        self._authorize = authorize
        self.default_timeout = default_timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="chimera-tool"
        )
        self.calls = 0
        self.failures = 0
        self._failed: dict[str, deque[FailedCall]] = {}

    def recent_failures(self, module: str, version: int | None = None) -> list[FailedCall]:
        """The latest failed calls of ``module`` (optionally one version), newest first."""
        calls = list(self._failed.get(module, ()))
        return [c for c in reversed(calls) if version is None or c.version == version]

    def _remember_failure(self, tv: ToolVersion, args: dict[str, Any], exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc))[-4000:]
        self._failed.setdefault(tv.module, deque(maxlen=20)).append(
            FailedCall(
                tool=tv.name,
                module=tv.module,
                version=tv.version,
                args=args,
                exception_type=type(exc).__name__,
                message=str(exc)[:500],
                traceback=text,
                at=time.time(),
            )
        )

    async def call(
        self,
        tool: str,
        args: Mapping[str, Any] | None,
        principal: Principal,
        *,
        version: int | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``tool`` as ``principal``; raises ToolCallError / ToolTimeoutError on failure."""
        await self._authorize(principal, Permission.TOOL_CALL, tool)
        args = dict(args or {})
        tv, mv = self.registry.resolve(tool, version)
        check_arguments(tv, args)
        limit = timeout if timeout is not None else (tv.timeout or self.default_timeout)
        deprecated = mv.state is VersionState.DEPRECATED
        mv.in_flight += 1
        started_wall = time.time()
        started = time.perf_counter()
        outcome, exc_type, message = "ok", "", ""
        try:
            if tv.is_async:
                return await asyncio.wait_for(tv.fn(**args), limit)
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(self._pool, functools.partial(tv.fn, **args))
            return await asyncio.wait_for(job, limit)
        except TimeoutError:
            outcome, exc_type, message = "timeout", "TimeoutError", f"no result within {limit:g} s"
            self._remember_failure(tv, args, TimeoutError(message))
            raise ToolTimeoutError(
                f"{tv.qualified} timed out after {limit:g} s",
                self._record(
                    tv, started_wall, started, outcome, exc_type, message, principal, deprecated
                ),
            ) from None
        except asyncio.CancelledError:
            outcome, exc_type = "cancelled", "CancelledError"
            raise
        except Exception as exc:
            outcome, exc_type, message = "error", type(exc).__name__, str(exc)[:500]
            self._remember_failure(tv, args, exc)
            raise ToolCallError(
                f"{tv.qualified} raised {exc_type}: {message}",
                self._record(
                    tv, started_wall, started, outcome, exc_type, message, principal, deprecated
                ),
            ) from exc
        finally:
            mv.in_flight -= 1
            duration = time.perf_counter() - started
            self.calls += 1
            mv.calls += 1
            tv.calls += 1
            tv.total_seconds += duration
            if outcome not in ("ok", "cancelled"):  # a caller that went away is no failure
                self.failures += 1
                mv.errors += 1
                tv.errors += 1
            if outcome in ("ok", "cancelled"):
                self._record(
                    tv, started_wall, started, outcome, exc_type, message, principal, deprecated
                )
            if mv.in_flight == 0:
                self.registry.release_if_drained(mv)

    def _record(
        self,
        tv: ToolVersion,
        started_wall: float,
        started: float,
        outcome: str,
        exc_type: str,
        message: str,
        principal: Principal,
        deprecated: bool,
    ) -> CallRecord:
        record = CallRecord(
            tool=tv.name,
            module=tv.module,
            version=tv.version,
            started_at=started_wall,
            duration_s=time.perf_counter() - started,
            outcome=outcome,
            exception_type=exc_type,
            message=message,
            caller=principal.actor,
            deprecated=deprecated,
        )
        self._bus.publish(ToolCallCompleted(record=record))
        return record

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
