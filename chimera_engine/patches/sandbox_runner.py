"""Runs inside the sandbox subprocess: installs the guards, checks the module, runs pytest.

``python -m chimera_engine.patches.sandbox_runner < CONFIG`` (one JSON line)

Guards are CPython audit hooks, which code in the sandbox cannot remove:
network connections and DNS lookups beyond loopback, files opened, listed or
changed outside the allowed roots (changes only inside the work dir), any new
process, ctypes and tracing hooks (which could bypass the guards), and reads of
secret-looking environment variables are refused and reported to the parent
over an inherited pipe. The configuration arrives on standard input, so
nothing about the sandbox is left in the work dir. The parent adds Landlock
(the same file limits, enforced by the kernel for every process), rlimits, a
wall-clock timeout, a scrubbed environment and a private network namespace
where the OS allows.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

SECRET_WORDS = frozenset(
    {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "AUTH"}
)


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret.

    Whole words only, so ``OPENAI_API_KEY`` counts and ``SSLKEYLOGFILE`` does not.

    >>> looks_secret("OPENAI_API_KEY"), looks_secret("GITHUB_TOKEN"), looks_secret("SSLKEYLOGFILE")
    (True, True, False)
    """
    return any(word in SECRET_WORDS for word in name.upper().split("_"))


PROCESS_EVENTS = frozenset(
    {
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "os.system",
        "subprocess.Popen",
        "os.exec",
        "os.startfile",
        "pty.spawn",
    }
)
BLOCKED_EVENTS = frozenset(
    {
        "ctypes.dlopen",
        "ctypes.dlsym",
        "ctypes.cdata",
        "ctypes.addressof",
        "sys._current_frames",
        "sys.setprofile",
        "sys.settrace",
    }
)
LOOKUP_EVENTS = frozenset(
    {
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "socket.getaddrinfo",
    }
)
#: os-level events whose first argument is a path that will be changed.
CHANGE_EVENTS = frozenset(
    {
        "os.remove",
        "os.rename",
        "os.mkdir",
        "os.rmdir",
        "os.chmod",
        "os.chown",
        "os.symlink",
        "os.link",
        "os.truncate",
        "os.utime",
        "shutil.rmtree",
        "shutil.move",
        "shutil.copyfile",
        "os.chdir",
    }
)
LIST_EVENTS = frozenset({"os.listdir", "os.scandir"})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class SandboxViolation(PermissionError):
    pass


class Channel:
    """Lines to the parent over an inherited pipe: ``V`` violations, one ``R`` report."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def send(self, kind: str, payload: object) -> None:
        data = (kind + " " + json.dumps(payload) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data) :]


class Guard:
    def __init__(self, config: Mapping[str, Any], channel: Channel) -> None:
        self.workdir = os.path.realpath(config["workdir"])
        self.scratch = os.path.realpath(config["scratch"])
        self.read_roots = tuple(os.path.realpath(p) for p in config["read_roots"])
        self._channel = channel
        self._local = threading.local()

    def record(self, message: str) -> None:
        self._channel.send("V", message)

    def refuse(self, message: str) -> None:
        self.record(message)
        raise SandboxViolation(f"sandbox: {message}")

    def _inside(self, path: str, roots: tuple[str, ...]) -> bool:
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r + os.sep) for r in roots)

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if getattr(self._local, "busy", False):
            return
        self._local.busy = True
        try:
            self._check(event, args)
        finally:
            self._local.busy = False

    def _check(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            self._check_open(args)
        elif event in ("socket.connect", "socket.sendto", "socket.bind"):
            self._check_address(args[1])
        elif event in LOOKUP_EVENTS:
            host = args[0]
            if isinstance(host, tuple):
                host = host[0]
            if isinstance(host, bytes):
                host = host.decode(errors="replace")
            if host and not _loopback(str(host)):
                self.refuse(f"network lookup of {host} (only loopback is allowed)")
        elif event in PROCESS_EVENTS:
            self.refuse(f"starting a process ({event}) is not allowed in the sandbox")
        elif event in BLOCKED_EVENTS:
            self.refuse(f"{event} is not allowed in the sandbox")
        elif event == "os.chdir" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            text = os.fsdecode(args[0])
            if not self._inside(text, (self.workdir, self.scratch, *self.read_roots)):
                self.refuse(f"os.chdir outside the sandbox: {text}")
        elif event in CHANGE_EVENTS:
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)):
                    text = os.fsdecode(path)
                    if not self._inside(text, (self.scratch,)):
                        self.refuse(f"{event} outside the sandbox: {text}")
        elif event in LIST_EVENTS and args and isinstance(args[0], (str, bytes, os.PathLike)):
            text = os.fsdecode(args[0])
            if not self._inside(text, (self.workdir, self.scratch, *self.read_roots)):
                self.refuse(f"listing outside the sandbox: {text}")

    def _check_open(self, args: tuple[Any, ...]) -> None:
        path, mode, flags = args[0], args[1], args[2]
        if isinstance(path, int) or path is None:
            return
        path = os.fsdecode(path)
        writing = (mode is not None and any(c in str(mode) for c in "wax+")) or bool(
            (flags or 0) & _WRITE_FLAGS
        )
        if writing:
            if not self._inside(path, (self.scratch,)) and path != os.devnull:
                self.refuse(f"write outside the sandbox: {path}")
        elif not self._inside(path, (self.workdir, self.scratch, *self.read_roots)):
            self.refuse(f"read outside the sandbox: {path}")

    def _check_address(self, address: Any) -> None:
        if isinstance(address, tuple) and address:
            host = str(address[0])
            if not _loopback(host):
                port = address[1] if len(address) > 1 else ""
                self.refuse(f"network connection to {host}:{port}")
        elif isinstance(address, (str, bytes)):
            path = os.fsdecode(address)
            if not self._inside(path, (self.scratch,)):
                self.refuse(f"unix socket outside the sandbox: {path}")


def _loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class GuardedEnviron(dict[str, str]):
    """``os.environ`` in the sandbox: reading a secret-looking variable is a violation."""

    def __init__(self, data: Mapping[str, str], guard: Guard) -> None:
        super().__init__(data)
        self._guard = guard

    def _watch(self, key: object) -> None:
        if isinstance(key, str) and looks_secret(key):
            self._guard.record(f"read of environment variable {key}")

    def __getitem__(self, key: str) -> str:
        self._watch(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._watch(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._watch(key)
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        return super().__iter__()


class Collector:
    """A pytest plugin that records every test's outcome."""

    def __init__(self) -> None:
        self.tests: dict[str, dict[str, Any]] = {}
        self.errors: list[dict[str, str]] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        entry = self.tests.setdefault(
            report.nodeid,
            {"nodeid": report.nodeid, "outcome": "passed", "duration": 0.0, "output": ""},
        )
        entry["duration"] += float(report.duration)
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["output"] = str(report.longreprtext)[-4000:]
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.errors.append(
                {"nodeid": report.nodeid, "output": str(report.longreprtext)[-4000:]}
            )


def check_module(config: Mapping[str, Any]) -> str:
    """Load the new module and compare its tools with the old version's ("" if fine)."""
    from chimera_engine.modules.loader import LoadError, load_module
    from chimera_engine.tooling import incompatibility

    spec = config.get("module_check")
    if not spec:
        return ""
    loaded = {}
    for which in ("old", "new"):
        try:
            loaded[which] = load_module(
                spec[which],
                qualified_name=f"sandbox_{which}.{spec['name']}",
                package=f"sandbox_{which}",
                filename=spec["filename"],
                module=spec["name"],
                version=1,
            )
        except LoadError as exc:
            return f"the {which} module does not load: {exc}"
    old_tools, new_tools = loaded["old"].tools, loaded["new"].tools
    for name, tool in old_tools.items():
        if name not in new_tools:
            return f"tool {name!r} disappeared"
        problem = incompatibility(tool.signature, new_tools[name].signature)
        if problem:
            return f"tool {name!r} changed its signature: {problem}"
    return ""


def _prologue(config: Mapping[str, Any]) -> dict[str, bool]:
    """Limits and kernel rules applied before any code of the patch is imported."""
    import resource

    limits = config.get("limits", {})
    for name, value in limits.items():
        limit = getattr(resource, name, None)
        if limit is not None:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(limit, (int(value), int(value)))
    layers = {"rlimits": bool(limits)}
    if config.get("unshare_net"):
        layers["netns"] = _unshare_network()
    if config.get("landlock"):
        from chimera_engine.patches import landlock

        layers["landlock"] = landlock.restrict(
            read_roots=config["landlock_read"],
            exec_roots=config["exec_roots"],
            write_roots=config["write_roots"],
        )
    return layers


def _unshare_network() -> bool:
    """A private network namespace with only loopback up (without bwrap)."""
    import ctypes
    import fcntl
    import socket
    import struct

    libc = ctypes.CDLL(None, use_errno=True)
    flags = 0x40000000 if os.geteuid() == 0 else 0x40000000 | 0x10000000
    if libc.unshare(flags) != 0:
        return False
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifr = struct.pack("16sH14x", b"lo", 0x1 | 0x8 | 0x40)
            fcntl.ioctl(s.fileno(), 0x8914, ifr)  # SIOCSIFFLAGS: lo up
    except OSError:
        pass
    return True


class IdCollector:
    """A pytest plugin that records the ids of the collected tests."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def pytest_collection_finish(self, session: Any) -> None:
        self.ids = [item.nodeid for item in session.items]


def main() -> int:
    config = json.loads(sys.stdin.readline())
    sys.stdin.close()
    # The channel is the original stdout; pytest and the tests write to /dev/null.
    channel = Channel(os.dup(1))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    layers = _prologue(config)
    proxy = config.get("proxy")
    if proxy:  # the trusted phase: the patched module lives in its own process
        from chimera_engine.patches import module_proxy

        layers["proxy"] = module_proxy.make_undumpable()
    channel.send("L", layers)  # written before any code of the patch runs
    if proxy:
        module_proxy.install(proxy["root"], proxy["name"])
    workdir = os.path.realpath(config["workdir"])
    os.chdir(workdir)
    sys.path.insert(0, workdir)
    sys.dont_write_bytecode = True
    import pytest  # imported before the guards: its own files are trusted

    guard: Guard | None = None
    if config.get("guards", True):
        guard = Guard(config, channel)
        os.environ = GuardedEnviron(os.environ, guard)  # type: ignore[assignment]  # noqa: B003
        sys.addaudithook(guard.hook)
    base = [
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-header",
        "-rN",
        "--rootdir",
        workdir,
        "--basetemp",
        os.path.join(config["scratch"], "pytest"),
    ]
    if config.get("phase") == "collect":
        ids = IdCollector()
        code = int(pytest.main([*base, "--collect-only", *config["targets"]], plugins=[ids]))
        channel.send("R", {"exit_code": code, "collected": ids.ids})
        return code
    started = time.perf_counter()
    module_problem = ""
    if config.get("module_check"):
        import types

        for pkg in ("sandbox_old", "sandbox_new"):  # siblings resolve: ``from .common import``
            mod = types.ModuleType(pkg)
            mod.__path__ = [os.path.join(workdir, "tools")]
            sys.modules[pkg] = mod
        try:
            module_problem = check_module(config)
        except SandboxViolation as exc:
            module_problem = str(exc)
    collector, ids = Collector(), IdCollector()
    exit_code = int(pytest.main([*base, *config["targets"]], plugins=[collector, ids]))
    channel.send(
        "R",
        {
            "exit_code": exit_code,
            "tests": list(collector.tests.values()),
            "collection_errors": collector.errors,
            "module_problem": module_problem,
            "collected": ids.ids,
            "duration": time.perf_counter() - started,
        },
    )
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
