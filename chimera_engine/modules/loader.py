"""Loading module source into fresh module objects, off the event loop, with a time limit.

``importlib.reload`` is never used: each version gets its own module object,
so a version that fails to load cannot damage the one that serves.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import copy
import functools
import hashlib
import inspect
import logging
import sys
import threading
import traceback
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from chimera_engine.modules.models import ToolVersion
from chimera_engine.tooling import tool_spec

T = TypeVar("T")

log = logging.getLogger(__name__)


class LoadError(Exception):
    """A version could not be loaded; ``stage`` is where it failed."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


class ImportHung(LoadError):
    """Loading did not finish in time; ``stopped`` says whether its thread was ended."""

    def __init__(self, message: str, *, aftermath: str, stopped: bool) -> None:
        super().__init__("import", message)
        self.aftermath = aftermath
        self.stopped = stopped


class ImportAbandoned(BaseException):
    """Raised inside a loading thread the engine gave up on (not an ``Exception``, so
    an ``except Exception`` in the module's code does not swallow it)."""


def _raise_in(thread: threading.Thread) -> None:
    """Ask ``thread`` to raise :class:`ImportAbandoned` at its next Python instruction.
    A thread blocked in C code (``time.sleep``, a socket read) raises it only when
    that call returns."""
    # Imported here, not at the top: the sandbox imports this package under guards
    # that refuse ctypes, and only an engine that gives up on an import needs it.
    import ctypes

    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(ImportAbandoned)
        )


def _keep_stopping(
    loop: asyncio.AbstractEventLoop, thread: threading.Thread, what: str, tries: int
) -> None:
    """Ask again every second (code may catch and carry on) for up to ``tries`` seconds."""
    if not thread.is_alive():
        log.warning("the abandoned import of %s has ended", what)
        return
    if tries <= 0:
        log.error("the abandoned import of %s still runs; it ends with the engine", what)
        return
    _raise_in(thread)
    with contextlib.suppress(RuntimeError):  # the loop is closing
        loop.call_later(1.0, _keep_stopping, loop, thread, what, tries - 1)


def content_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


async def run_in_thread(fn: Callable[[], T], timeout: float, what: str) -> T:
    """Run ``fn`` in a fresh daemon thread; give up (the thread is abandoned) after ``timeout``.

    A dedicated thread per call means code that hangs (an import that never
    returns) cannot starve a shared pool.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(settle, False, exc)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, True, result)

    thread = threading.Thread(target=target, name=f"chimera-load-{what}", daemon=True)
    thread.start()
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        pass
    _raise_in(thread)  # stop it where Python can: between two instructions
    for _ in range(30):
        if not thread.is_alive():
            break
        await asyncio.sleep(0.01)
    stopped = not thread.is_alive()
    if stopped:
        aftermath = "its import was stopped"
    else:
        loop.call_later(1.0, _keep_stopping, loop, thread, what, 60)
        aftermath = (
            "its import could not be stopped (it waits in a call Python cannot "
            "interrupt); its thread ends only when that call returns"
        )
    raise ImportHung(
        f"{what} did not finish loading within {timeout:g} s ({aftermath})",
        aftermath=aftermath,
        stopped=stopped,
    )


@functools.lru_cache(maxsize=1024)
def workspace_imports(source: str, package: str) -> frozenset[str]:
    """Names of sibling modules that ``source`` imports relatively (``from .x import y``).

    Cached by source: a reload asks this of every serving module (its dependants), and a
    version's source never changes, so each is parsed once rather than on every reload."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return frozenset()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return frozenset(found)


@dataclass
class LoadedVersion:
    module: ModuleType
    tools: dict[str, ToolVersion]


def _format_exception(exc: BaseException, filename: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def load_module(
    source: str,
    *,
    qualified_name: str,
    package: str,
    filename: str,
    module: str,
    version: int,
    overrides: dict[str, ModuleType] | None = None,
) -> LoadedVersion:
    """Compile and execute ``source`` in a new module object; collect its tools.

    Blocking: call it through :func:`run_in_thread`. ``overrides`` temporarily
    replaces sibling modules in ``sys.modules`` (a dependency's new version).
    """
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise LoadError("syntax", f"SyntaxError: {exc.msg} (line {exc.lineno})") from None
    mod = ModuleType(qualified_name)
    mod.__file__ = filename
    mod.__package__ = package
    saved: dict[str, ModuleType | None] = {}
    for name, replacement in (overrides or {}).items():
        saved[name] = sys.modules.get(name)
        sys.modules[name] = replacement
    try:
        exec(code, mod.__dict__)
    except (Exception, SystemExit) as exc:
        raise LoadError("import", _format_exception(exc, filename)) from None
    finally:
        for name, previous in saved.items():
            if sys.modules.get(name) is not (overrides or {}).get(name):
                continue  # switched meanwhile (this load ran late): leave the newer one
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    tools = collect_tools(mod.__dict__.values(), module=module, version=version)
    smoke = mod.__dict__.get("__chimera_smoke__")
    if callable(smoke):
        try:
            smoke()
        except Exception as exc:
            raise LoadError(
                "smoke", f"smoke test failed: {_format_exception(exc, filename)}"
            ) from None
    return LoadedVersion(module=mod, tools=tools)


def collect_tools(values: Iterable[object], *, module: str, version: int) -> dict[str, ToolVersion]:
    tools: dict[str, ToolVersion] = {}
    for obj in values:
        spec = tool_spec(obj)
        if spec is None or not callable(obj):
            continue
        if spec.name in tools:
            raise LoadError("tools", f"two functions declare the tool name {spec.name!r}")
        try:
            signature = inspect.signature(obj)
        except (TypeError, ValueError) as exc:
            raise LoadError("tools", f"tool {spec.name!r} has no usable signature: {exc}") from None
        try:
            hints = typing.get_type_hints(obj)
        except Exception:
            hints = {}
        tools[spec.name] = ToolVersion(
            name=spec.name,
            module=module,
            version=version,
            fn=obj,
            signature=signature,
            description=spec.description,
            is_async=inspect.iscoroutinefunction(obj),
            timeout=spec.timeout,
            param_types={
                p: base
                for p in signature.parameters
                if p in hints
                and (base := typing.get_origin(hints[p]) or hints[p]) in _CHECKED_TYPES
            },
        )
    return tools


_CHECKED_TYPES = (str, int, float, bool, list, dict)


def export_state(mod: ModuleType) -> tuple[dict[str, Any] | None, int]:
    """A deep copy of the module's carried state (so the old version cannot be harmed)."""
    hook = mod.__dict__.get("__chimera_state__")
    if not callable(hook):
        return None, 0
    try:
        state = hook()
    except Exception as exc:
        raise LoadError("state", f"__chimera_state__ of the old version failed: {exc!r}") from None
    if not isinstance(state, dict):
        raise LoadError("state", "__chimera_state__ must return a dict")
    return copy.deepcopy(state), int(mod.__dict__.get("__chimera_state_version__", 1))


def import_state(mod: ModuleType, state: dict[str, Any], old_version: int) -> None:
    """Hand carried state to the new version, migrating it first if its shape changed."""
    new_version = int(mod.__dict__.get("__chimera_state_version__", 1))
    if new_version != old_version:
        migrate = mod.__dict__.get("__chimera_migrate__")
        if not callable(migrate):
            raise LoadError(
                "state",
                f"state version changed ({old_version} -> {new_version}) "
                "but the module defines no __chimera_migrate__",
            )
        try:
            state = migrate(state, old_version)
        except Exception as exc:
            raise LoadError("state", f"__chimera_migrate__ failed: {exc!r}") from None
    restore = mod.__dict__.get("__chimera_restore__")
    if callable(restore):
        try:
            restore(state)
        except Exception as exc:
            raise LoadError("state", f"__chimera_restore__ failed: {exc!r}") from None
