"""The patched module as the trusted test process sees it: a proxy to another process.

In the *trusted* phase the existing tests run in a process that never
imports code of the patch. ``import tools.mathy`` there yields a
:class:`ProxyModule`; reading an attribute or calling a function asks the
patched module's own process (:mod:`chimera_engine.patches.module_server`),
and only plain data comes back (:mod:`chimera_engine.patches.crossing`).
Before that process starts, this one makes itself non-dumpable, so a process
of the same user cannot attach to it, read its memory or open its file
descriptors: the report to the parent stays out of the patch's reach.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import importlib.machinery
import json
import subprocess
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

from chimera_engine.patches.crossing import CrossingError, decode, dumps, encode

_PR_SET_DUMPABLE = 4


def make_undumpable() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0


class ModuleProcess:
    """The patched module's process and the one pipe to it (thread-safe)."""

    def __init__(self, root: str, name: str) -> None:
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "chimera_engine.patches.module_server", root, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            cwd=root,
        )
        hello = self._read()
        if not hello.get("loaded"):
            raise ImportError(f"the patched module does not load: {hello.get('error', '?')}")

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline(1 << 24)
        if not line:
            raise RuntimeError("the patched module's process ended")
        try:
            reply = json.loads(line)
        except ValueError as exc:
            raise RuntimeError("the patched module's process sent garbage") from exc
        if not isinstance(reply, dict):
            raise RuntimeError("the patched module's process sent garbage")
        return reply

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(dumps(request))
                self._proc.stdin.flush()
            except OSError as exc:
                raise RuntimeError("the patched module's process ended") from exc
            return self._read()

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()


class ProxyModule(types.ModuleType):
    """Attributes come from the patched module's process; values are plain data."""

    def __init__(self, name: str, process: ModuleProcess) -> None:
        super().__init__(name)
        self.__dict__["_process"] = process
        self.__dict__["_exceptions"] = {}

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        process: ModuleProcess = self.__dict__["_process"]
        reply = process.ask({"op": "get", "name": attr})
        if reply.get("missing"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")
        if "exception" in reply:
            return self._exception(str(reply["exception"]))
        if reply.get("call"):
            return self._function(attr, bool(reply.get("async")))
        return decode(reply.get("value"))

    def __dir__(self) -> list[str]:
        process: ModuleProcess = self.__dict__["_process"]
        names = process.ask({"op": "names"}).get("value")
        return [str(n) for n in names] if isinstance(names, list) else []

    def _exception(self, name: str) -> type[BaseException]:
        known: dict[str, type[BaseException]] = self.__dict__["_exceptions"]
        if name not in known:
            known[name] = type(name, (Exception,), {"__module__": self.__name__})
        return known[name]

    def _result(self, reply: dict[str, Any]) -> Any:
        if "error" in reply:
            error = decode(reply["error"])
            if not isinstance(error, BaseException):
                raise CrossingError("malformed error from the patched module's process")
            custom = self.__dict__["_exceptions"].get(getattr(error, "args", ("",))[0])
            if type(error).__name__ == "RemoteError" and custom is not None:
                raise custom(*error.args[1:])
            raise error
        return decode(reply.get("value"))

    def _function(self, name: str, is_async: bool) -> Any:
        process: ModuleProcess = self.__dict__["_process"]

        def request(args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
            return {
                "op": "call",
                "name": name,
                "args": encode(list(args)),
                "kwargs": encode(kwargs),
            }

        if is_async:

            async def call_async(*args: Any, **kwargs: Any) -> Any:
                import asyncio

                reply = await asyncio.to_thread(process.ask, request(args, kwargs))
                return self._result(reply)

            call_async.__name__ = call_async.__qualname__ = name
            return call_async

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._result(process.ask(request(args, kwargs)))

        call.__name__ = call.__qualname__ = name
        return call


class ProxyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``import NAME`` with the proxy, before any other finder."""

    def __init__(self, name: str, process: ModuleProcess) -> None:
        self.name = name
        self.process = process

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return ProxyModule(spec.name, self.process)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def install(root: str, name: str) -> ModuleProcess:
    """Start the module's process and route ``import name`` to it (call once)."""
    make_undumpable()
    process = ModuleProcess(root, name)
    sys.meta_path.insert(0, ProxyFinder(name, process))
    return process
