"""What runs inside a Dask worker process for the swarm (lean: no engine imports beyond
:mod:`.execution`).

* :func:`present_node_key` is the handshake: the coordinator runs it on every
  worker that joins (``Client.run``) and checks the node key it returns before
  the worker receives any tool code or inputs.
* :func:`run_attempt` runs one attempt. It first tells the coordinator that the
  attempt really started (a ``chimera-start`` event through the scheduler), so
  timeouts count from the start of execution and only started attempts count
  towards poison detection. Tool code arrives by content hash: the bundle is
  sent once per worker and cached; a miss answers ``bundle_missing`` and the
  coordinator sends it again.
* The worker enforces the attempt's timeout itself, from the start, and
  :func:`stop_attempts` stops attempts (cancel): both raise
  :class:`AttemptStopped` inside the thread that runs the tool. Code blocked in
  C is stopped when it returns to Python; the coordinator's own deadline
  (timeout plus grace) is the backstop.
"""

from __future__ import annotations

import ctypes
import heapq
import os
import socket
import threading
import time
from typing import Any

from chimera_engine.swarm.execution import (
    _WORKER_CACHE,
    NODE_KEY_ENV,
    _await,
    check_inputs,
    failure_reply,
)

START_TOPIC = "chimera-start"


class AttemptStopped(BaseException):
    """Raised asynchronously in a tool's thread: ``args[0]`` is ``timeout`` or ``cancelled``."""


class _Running:
    """Attempts running in this process: attempt id -> thread id, and their deadlines."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.threads: dict[str, int] = {}
        self.reasons: dict[str, str] = {}
        self.deadlines: list[tuple[float, str]] = []
        self.watchdog: threading.Thread | None = None
        self.skip: set[str] = set()

    def stop(self, attempt_id: str, reason: str) -> bool:
        with self.lock:
            ident = self.threads.get(attempt_id)
            if ident is None:
                if reason == "cancelled" and len(self.skip) < 100_000:
                    self.skip.add(attempt_id)  # not started yet: a batch will skip it
                return False
            if attempt_id in self.reasons:
                return False
            self.reasons[attempt_id] = reason
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(AttemptStopped)
            )
            return True

    def watch(self, attempt_id: str, timeout: float) -> None:
        with self.lock:
            heapq.heappush(self.deadlines, (time.monotonic() + timeout, attempt_id))
            if self.watchdog is None:
                self.watchdog = threading.Thread(
                    target=self._loop, name="chimera-timeouts", daemon=True
                )
                self.watchdog.start()

    def _loop(self) -> None:
        while True:
            time.sleep(0.02)
            now = time.monotonic()
            due: list[str] = []
            with self.lock:
                while self.deadlines and self.deadlines[0][0] <= now:
                    due.append(heapq.heappop(self.deadlines)[1])
            for attempt_id in due:
                self.stop(attempt_id, "timeout")


_RUNNING = _Running()


def present_node_key(dask_worker: Any = None) -> dict[str, str]:
    """The worker's node key and name (run by the coordinator on each joining worker)."""
    name = str(getattr(dask_worker, "name", "") or "")
    return {"key": os.environ.get(NODE_KEY_ENV, ""), "name": name, "host": socket.gethostname()}


def stop_attempts(attempt_ids: list[str], dask_worker: Any = None) -> int:
    """Stop these attempts on this worker: a running one at once, a queued one when its
    batch reaches it. Returns how many were running."""
    return sum(_RUNNING.stop(attempt_id, "cancelled") for attempt_id in attempt_ids)


def _announce(msg: dict[str, str], *, confirmed: bool = False) -> str:
    """Tell the coordinator (through the scheduler) that this Dask task started.
    ``confirmed`` waits for the scheduler to have the event (a round trip): a tool that
    kills its worker at once must not take its start announcement down with it, or
    it would never be blamed. Batches use the cheaper buffered path."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"
    name = str(worker.name)
    event = {**msg, "worker": name}
    if confirmed:
        from distributed.utils import sync

        try:
            sync(worker.loop, worker.scheduler.log_event, topic=START_TOPIC, msg=event,
                 callback_timeout=5.0)  # fmt: skip
            return name
        except Exception:  # the scheduler is slow or gone: the buffered path still tries
            pass
    worker.log_event(START_TOPIC, event)
    return name


def run_attempt(
    attempt_id: str,
    key: str,
    bundle: dict[str, Any] | None,
    inputs: dict[str, Any],
    timeout: float,
) -> dict[str, Any]:
    """Run one attempt on this worker; the reply carries the worker's name and node key."""
    worker = _announce({"attempt": attempt_id}, confirmed=True)
    reply = _one(attempt_id, key, bundle, inputs, timeout)
    reply["node_key"] = os.environ.get(NODE_KEY_ENV, "")
    reply["worker"] = worker
    return reply


def run_batch(
    batch: str, items: list[tuple[str, str, dict[str, Any] | None, dict[str, Any], float]]
) -> dict[str, Any]:
    """Run several attempts one after the other in this worker thread (one Dask task for
    many small attempts); each is timed from its own start. Attempts cancelled before
    their turn are skipped."""
    worker = _announce({"key": batch})
    replies: list[tuple[str, dict[str, Any]]] = []
    for attempt_id, key, bundle, inputs, timeout in items:
        with _RUNNING.lock:
            skipped = attempt_id in _RUNNING.skip
            _RUNNING.skip.discard(attempt_id)
        if skipped:
            replies.append((attempt_id, {"ok": False, "code": "cancelled", "error": "cancelled"}))
            continue
        replies.append((attempt_id, _one(attempt_id, key, bundle, inputs, timeout)))
    return {"replies": replies, "node_key": os.environ.get(NODE_KEY_ENV, ""), "worker": worker}


def _one(
    attempt_id: str, key: str, bundle: dict[str, Any] | None, inputs: dict[str, Any], timeout: float
) -> dict[str, Any]:
    started, wall = time.perf_counter(), time.time()
    reply: dict[str, Any]
    if bundle is not None and not _WORKER_CACHE.has(key):
        _WORKER_CACHE.add(bundle)
    if not _WORKER_CACHE.has(key):
        reply = {"ok": False, "code": "bundle_missing", "error": f"bundle {key[:12]} not here"}
    else:
        reply = _run(attempt_id, key, inputs, timeout)
    reply["ms"] = (time.perf_counter() - started) * 1e3
    reply["started"] = wall
    return reply


def _run(attempt_id: str, key: str, inputs: dict[str, Any], timeout: float) -> dict[str, Any]:
    with _RUNNING.lock:
        _RUNNING.threads[attempt_id] = threading.get_ident()
    _RUNNING.watch(attempt_id, timeout)
    try:
        try:
            tv = _WORKER_CACHE.tool(key)
            check_inputs(tv, inputs)
            value = tv.fn(**inputs)
            if hasattr(value, "__await__"):
                import asyncio

                value = asyncio.run(_await(value))
            reply: dict[str, Any] = {"ok": True, "value": value}
        except (Exception, SystemExit) as exc:
            reply = failure_reply(exc)
        finally:
            with _RUNNING.lock:
                _RUNNING.threads.pop(attempt_id, None)
    except AttemptStopped:
        reply = {"ok": False, "code": "cancelled", "error": "stopped on the worker"}
    with _RUNNING.lock:
        reason = _RUNNING.reasons.pop(attempt_id, "")
    if reason == "timeout":
        reply = {
            "ok": False,
            "code": "timeout",
            "error": f"no result within {timeout:g} s of the start on the worker",
        }
    elif reason == "cancelled":
        reply = {"ok": False, "code": "cancelled", "error": "stopped on the worker"}
    return reply
