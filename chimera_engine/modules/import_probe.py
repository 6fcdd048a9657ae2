"""The child side of the import probe: run a module's import-time code, report, exit.

Run as ``python -I -m chimera_engine.modules.import_probe`` with a JSON request
on standard input: ``{"package", "directory", "modules": [names in import
order], "sources": {name: source}, "cpu_seconds", "memory_bytes", "environ"}``.
Resource limits are set before any
workspace code runs (so that code cannot lift them). Sibling modules are served
from ``sources``, never from disk, so the probe sees exactly the change set the
parent is about to load. Before each module it prints a line naming it
(so a parent that has to stop the child knows which one never ended); the
verdict line is ``{"ok": true}`` or ``{"ok": false, "module", "stage", "reason",
"missing"}``.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import json
import os
import resource
import sys
import traceback
from types import ModuleType
from typing import Any

#: Line prefixes the parent reads (a module's own prints are ignored).
MARK = "\x1echimera-probe importing "
VERDICT = "\x1echimera-probe verdict "


class _Siblings(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, package: str, sources: dict[str, str], directory: str) -> None:
        self.package = package
        self.sources = sources
        self.directory = directory

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        prefix = self.package + "."
        if fullname.startswith(prefix) and fullname[len(prefix) :] in self.sources:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__.rsplit(".", 1)[1]
        filename = f"{self.directory}/{name}.py"
        module.__file__ = filename
        exec(compile(self.sources[name], filename, "exec", dont_inherit=True), module.__dict__)


def _limit(cpu_seconds: int, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    if os.geteuid() != 0:  # as the patch sandbox: no fork bomb (root ignores this limit)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))


def _where(exc: BaseException, filename: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return f" (line {frames[-1].lineno})" if frames else ""


def _import_one(package: str, module: str, source: str, filename: str) -> dict[str, Any]:
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return {"stage": "syntax", "reason": f"SyntaxError: {exc.msg} (line {exc.lineno})"}
    mod = ModuleType(f"{package}.{module}")
    mod.__file__ = filename
    mod.__package__ = package
    sys.modules[mod.__name__] = mod
    try:
        exec(code, mod.__dict__)
    except ModuleNotFoundError as exc:
        missing = ""
        if exc.name and exc.name.startswith(package + "."):
            missing = exc.name[len(package) + 1 :].split(".")[0]
        reason = f"ModuleNotFoundError: {exc}{_where(exc, filename)}"
        return {"stage": "import", "reason": reason, "missing": missing}
    except MemoryError:
        return {"stage": "import", "reason": "MemoryError: over the memory limit"}
    except (Exception, SystemExit) as exc:
        return {"stage": "import", "reason": f"{type(exc).__name__}: {exc}{_where(exc, filename)}"}
    smoke = mod.__dict__.get("__chimera_smoke__")
    if callable(smoke):
        try:
            smoke()
        except Exception as exc:
            reason = f"smoke test failed: {type(exc).__name__}: {exc}{_where(exc, filename)}"
            return {"stage": "smoke", "reason": reason}
    return {}


def probe(request: dict[str, Any]) -> dict[str, Any]:
    """Import ``request["modules"]`` in that order; the verdict names the first failure."""
    package: str = request["package"]
    directory: str = request["directory"]
    sources: dict[str, str] = request["sources"]
    top = package.partition(".")[0]
    for name in (top, package):
        pkg = ModuleType(name)
        pkg.__path__ = []
        pkg.__package__ = name
        sys.modules[name] = pkg
    sys.meta_path.insert(0, _Siblings(package, sources, directory))
    for module in request["modules"]:
        sys.modules.pop(f"{package}.{module}", None)  # imported by a sibling already
        print(f"{MARK}{module}", flush=True)  # who is importing, should it never end
        fault = _import_one(package, module, sources[module], f"{directory}/{module}.py")
        if fault:
            return {"ok": False, "module": module, **fault}
    return {"ok": True}


def main() -> None:
    # warm: what nearly every tool module imports is loaded before the request arrives
    import chimera_engine.tooling  # noqa: F401

    request = json.loads(sys.stdin.read())
    os.environ.clear()
    os.environ.update(request.get("environ", {}))  # as the engine's now, not at warm-up
    _limit(int(request["cpu_seconds"]), int(request["memory_bytes"]))
    verdict = probe(request)
    sys.stdout.flush()
    print(f"\n{VERDICT}{json.dumps(verdict)}", flush=True)


if __name__ == "__main__":
    main()
