"""A risk rating of a patch, shown as a badge in the review queue: a second opinion.

The sandbox decides whether the tests pass; this screen says how much the
patch reaches for things a fix of a tool (or a test of it) has no business
with: the test runner's internals, the interpreter's module table, frames,
the garbage collector, signals, raw file descriptors, ``ctypes``, process
creation, writes to test files. Any of these makes a patch high risk: it is
never auto-approved, and the reasons are shown to the reviewer. A workspace
can allow modules its tools really use (``allow``: e.g. ``{"subprocess"}``).
Deleting a check, a ``raise`` or an ``assert`` from the module raises the
risk to at least medium.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: (name shown to the reviewer, pattern, module allow-list key or "")
_HIGH: tuple[tuple[str, str, str], ...] = (
    ("pytest internals", r"\b_pytest\b|pluginmanager|hookimpl|hookwrapper|pytest_\w+\s*\(", ""),
    ("the module table", r"\bsys\.modules\b|importlib\.reload|__import__\(", ""),
    ("frames", r"sys\._getframe|_current_frames|\binspect\.(currentframe|stack)|f_back", ""),
    ("the garbage collector", r"\bgc\.|\bimport gc\b", ""),
    ("signals", r"\bsignal\.|\bos\.kill\b|\bos\.killpg\b|\bimport signal\b", "signal"),
    ("file descriptors", r"\bos\.(write|dup2?|close|fdopen|fstat|read)\(|/proc/", ""),
    ("ctypes", r"\bctypes\b|\bcffi\b", "ctypes"),
    (
        "process creation",
        r"_posixsubprocess|\bsubprocess\b|\bos\.(fork|forkpty|posix_spawn\w*|"
        r"spawn\w*|exec\w*|system|popen)\b|\bmultiprocessing\b|\bpty\.",
        "subprocess",
    ),
    ("exiting the interpreter", r"\bos\._exit\b|\bsys\.exit\b", ""),
    ("audit and tracing hooks", r"addaudithook|settrace|setprofile|__builtins__|\bbuiltins\.", ""),
    (
        "dynamic code",
        r"\beval\(|\bexec\(|\bcompile\(|\bimport_module\(|"
        r"getattr\([^)]*[\"']\s*\+|"  # a name put together to dodge this screen
        r"(\.__dict__|\bvars\([^)]*\)|\bglobals\(\))\s*\[",
        "",
    ),
    ("the network", r"\bsocket\b|urllib|requests\.|httpx\.", "socket"),
    ("the environment", r"os\.environ|getenv", ""),
    (
        "writes to test files",
        r"(tests?/|test_\w*\.py|conftest)[^\n]*(write|open\()|"
        r"(write_text|write_bytes|open\()[^\n]*(tests?/|test_|conftest)",
        "",
    ),
    ("file removal", r"shutil\.rmtree|os\.remove|os\.unlink|\.unlink\(", ""),
    ("pickle", r"\bpickle\b|\bmarshal\b", "pickle"),
    (
        "files of the host",
        r"[\"'](/etc/|/proc/|/root\b|/home/|/var/|/run/|/sys/|/dev/(?!null)|~/)|\.ssh\b|secret\.key",
        "",
    ),
)
_COMPILED = tuple((name, re.compile(pattern), key) for name, pattern, key in _HIGH)
_CHECK = re.compile(r"^\s*(raise\b|assert\b|if\b.*:\s*(raise|return)\b|if\b)")


def _lines(diff: str, sign: str) -> list[str]:
    return [
        line[1:]
        for line in diff.splitlines()
        if line.startswith(sign) and not line.startswith(sign * 3)
    ]


def screen(texts: Iterable[tuple[str, str]], allow: Iterable[str] = ()) -> list[str]:
    """Reasons found in ``(where, code)`` pairs (added module lines or new test files)."""
    allowed = set(allow)
    reasons: list[str] = []
    for where, code in texts:
        for number, line in enumerate(code.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for name, pattern, key in _COMPILED:
                match = pattern.search(line)
                if match and not (key and key in allowed):
                    reasons.append(f"{where} line {number} reaches for {name}: {match.group(0)}")
    return reasons


def assess(
    diff: str, tests: dict[str, str] | None = None, allow: Iterable[str] = ()
) -> tuple[str, list[str]]:
    """``("low" | "medium" | "high", reasons)`` from the diff and the new test files.

    >>> assess("+    return 0\\n")[0]
    'low'
    >>> assess("+    import subprocess\\n")
    ('high', ['the patch line 1 reaches for process creation: subprocess'])
    >>> assess("+    import subprocess\\n", allow={"subprocess"})[0]
    'low'
    >>> assess("-    if b == 0:\\n-        raise ValueError('b')\\n+    pass\\n")
    ('medium', ['removes a check, a raise or an assert (2 lines)'])
    """
    added = _lines(diff, "+")
    removed = _lines(diff, "-")
    texts = [("the patch", "\n".join(added))]
    texts += sorted((tests or {}).items())
    reasons = screen(texts, allow)
    if reasons:
        return "high", sorted(set(reasons))
    still = {line.strip() for line in added}
    dropped = [line for line in removed if _CHECK.match(line) and line.strip() not in still]
    if dropped:
        return "medium", [f"removes a check, a raise or an assert ({len(dropped)} lines)"]
    size = len(added) + len(removed)
    if size > 60:
        return "medium", [f"large change ({size} lines)"]
    return "low", [] if size <= 20 else [f"{size} lines changed"]
