"""Running shipped tool versions: used inside agent processes and on Dask workers.

A *bundle* is what the coordinator ships for one tool at one version: the
source of the module that declares it, preceded by the sources of the sibling
workspace modules it imports (``from .common import x``), each loaded into a
fresh module object with :func:`chimera_engine.modules.loader.load_module`.
Bundles are cached by their key (a content hash), so a version is loaded once
per process and a hot reload simply ships a new key.

Lean on purpose: imports nothing heavier than the loader.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import socket
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from chimera_engine.modules.loader import LoadError, load_module
from chimera_engine.modules.models import ToolVersion

NODE_KEY_ENV = "CHIMERA_NODE_KEY"


class ToolFailure(Exception):
    """A reply-worthy failure: ``code`` is the error code the coordinator records."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class _Loaded:
    tool: ToolVersion | None
    error: str = ""


def _ensure_package(package: str) -> None:
    parts = package.split(".")
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        if name not in sys.modules:
            mod = ModuleType(name)
            mod.__path__ = []
            sys.modules[name] = mod


class ToolCache:
    """Bundles received and the tools loaded from them. Thread-safe; loading is serialised
    (it briefly swaps ``sys.modules`` entries for sibling imports)."""

    def __init__(self) -> None:
        self._bundles: dict[str, Mapping[str, Any]] = {}
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()
        self.loads = 0

    def add(self, bundle: Mapping[str, Any]) -> None:
        self._bundles[str(bundle["key"])] = bundle

    def has(self, key: str) -> bool:
        return key in self._bundles or key in self._loaded

    def cached(self, key: str) -> ToolVersion | None:
        """The tool if already loaded (no blocking), else None."""
        found = self._loaded.get(key)
        return found.tool if found is not None else None

    def tool(self, key: str) -> ToolVersion:
        """The tool of bundle ``key``, loading it if needed (blocking: call off the loop)."""
        found = self._loaded.get(key)
        if found is None:
            with self._lock:
                found = self._loaded.get(key)
                if found is None:
                    found = self._load(key)
                    self._loaded[key] = found
                    self._bundles.pop(key, None)
        if found.tool is None:
            raise ToolFailure("load_error", found.error)
        return found.tool

    def _load(self, key: str) -> _Loaded:
        bundle = self._bundles.get(key)
        if bundle is None:
            return _Loaded(None, f"tool bundle {key[:12]} was never shipped to this agent")
        package = str(bundle["package"])
        _ensure_package(package)
        overrides: dict[str, ModuleType] = {}
        tools: dict[str, ToolVersion] = {}
        self.loads += 1
        for spec in bundle["modules"]:
            module, version = str(spec["module"]), int(spec["version"])
            qualified = f"{package}.{module}"
            try:
                loaded = load_module(
                    str(spec["source"]),
                    qualified_name=qualified,
                    package=package,
                    filename=f"<{module} v{version}>",
                    module=module,
                    version=version,
                    overrides=dict(overrides),
                )
            except LoadError as exc:
                return _Loaded(None, f"{module} v{version} failed to load ({exc.stage}): {exc}")
            overrides[qualified] = loaded.module
            tools = loaded.tools
        name = str(bundle["tool"])
        if name not in tools:
            return _Loaded(None, f"the shipped module does not define the tool {name!r}")
        return _Loaded(tools[name])


def check_inputs(tv: ToolVersion, inputs: Mapping[str, Any]) -> None:
    """Refuse inputs that do not fit the tool's signature or its simple type hints
    (the same rules as the engine's ToolRuntime)."""
    try:
        tv.signature.bind(**inputs)
    except TypeError as exc:
        raise ToolFailure(
            "invalid_input", f"inputs do not match {tv.name}{tv.signature}: {exc}"
        ) from None
    for name, value in inputs.items():
        expected = tv.param_types.get(name)
        if expected is None:
            continue
        if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
            continue
        if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
            continue
        raise ToolFailure(
            "invalid_input",
            f"input {name!r} of {tv.name} must be {expected.__name__}, got {type(value).__name__}",
        )


def failure_reply(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ToolFailure):
        return {"ok": False, "code": exc.code, "error": str(exc)[:2000]}
    return {"ok": False, "code": "tool_error", "error": f"{type(exc).__name__}: {str(exc)[:2000]}"}


async def run_tool(
    tv: ToolVersion, inputs: dict[str, Any], timeout: float, pool: Executor
) -> dict[str, Any]:
    """Run one call on the current loop (async tools) or in ``pool`` (sync tools).

    Returns a reply dict: ``{"ok": True, "value": v}`` or ``{"ok": False, "code", "error"}``;
    ``"stuck": True`` marks a sync tool that timed out and still occupies its thread.
    """
    started = time.perf_counter()
    try:
        check_inputs(tv, inputs)
        if tv.is_async:
            value = await asyncio.wait_for(tv.fn(**inputs), timeout)
        else:
            job = asyncio.get_running_loop().run_in_executor(
                pool, functools.partial(tv.fn, **inputs)
            )
            try:
                value = await asyncio.wait_for(asyncio.shield(job), timeout)
            except TimeoutError:
                reply = {
                    "ok": False,
                    "code": "timeout",
                    "stuck": not job.done(),
                    "error": f"{tv.qualified} returned nothing within {timeout:g} s",
                }
                reply["ms"] = (time.perf_counter() - started) * 1e3
                return reply
        reply = {"ok": True, "value": value}
    except TimeoutError:
        reply = {
            "ok": False,
            "code": "timeout",
            "error": f"{tv.qualified} returned nothing within {timeout:g} s",
        }
    except asyncio.CancelledError:
        raise
    except (Exception, SystemExit) as exc:  # a tool calling sys.exit() is a tool error
        reply = failure_reply(exc)
    reply["ms"] = (time.perf_counter() - started) * 1e3
    return reply


def run_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt synchronously (the function Dask workers execute).

    ``payload`` is ``{"bundle": {...}, "inputs": {...}}``. The reply carries the
    worker's node credential (from ``CHIMERA_NODE_KEY``) so the coordinator
    accepts results only from authenticated nodes.
    """
    started = time.perf_counter()
    bundle = payload["bundle"]
    reply: dict[str, Any]
    try:
        if not _WORKER_CACHE.has(str(bundle["key"])):
            _WORKER_CACHE.add(bundle)
        tv = _WORKER_CACHE.tool(str(bundle["key"]))
        inputs = dict(payload["inputs"])
        check_inputs(tv, inputs)
        value = tv.fn(**inputs)
        if inspect.isawaitable(value):
            value = asyncio.run(_await(value))
        reply = {"ok": True, "value": value}
    except (Exception, SystemExit) as exc:
        reply = failure_reply(exc)
    reply["ms"] = (time.perf_counter() - started) * 1e3
    reply["node_key"] = os.environ.get(NODE_KEY_ENV, "")
    reply["host"] = socket.gethostname()
    reply["pid"] = os.getpid()
    try:
        from distributed import get_worker

        reply["worker"] = str(get_worker().name)
    except (ImportError, ValueError):
        reply["worker"] = f"{reply['host']}:{reply['pid']}"
    return reply


async def _await(value: Any) -> Any:
    return await value


_WORKER_CACHE = ToolCache()
