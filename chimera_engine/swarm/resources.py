"""What local agent processes use: CPU and resident memory, sampled with psutil.

:class:`ProcessSampler` reads ``/proc`` for each agent's pid (about 30 us per
process), at most once per ``interval`` seconds however often it is asked, so
listing the agents many times a second costs nothing more. CPU is a percentage
of one core over the time since the previous sample (above 100 for a process
busy on several cores); the first sample of a process has no CPU figure yet.
Call it on the event-loop thread; it never blocks on anything but ``/proc``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_INTERVAL = 1.0
"""Seconds between two samples of the same processes."""


@dataclass(frozen=True, slots=True)
class Usage:
    """One sample: ``cpu_percent`` is None until a process has been sampled twice."""

    rss_bytes: int
    cpu_percent: float | None


class ProcessSampler:
    """Samples the processes it is given, at most every ``interval`` seconds.

    >>> import os
    >>> sampler = ProcessSampler(interval=0.0)
    >>> sampler.refresh([os.getpid()])
    True
    >>> usage = sampler.usage(os.getpid())
    >>> usage is not None and usage.rss_bytes > 0 and usage.cpu_percent is None
    True
    """

    def __init__(
        self, *, interval: float = DEFAULT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last = float("-inf")
        self._procs: dict[int, Any] = {}  # pid -> psutil.Process
        self._usage: dict[int, Usage] = {}
        self.samples = 0

    def refresh(self, pids: Iterable[int]) -> bool:
        """Sample ``pids`` if the last sample is ``interval`` old; True if it sampled.
        Processes no longer listed (or gone) are forgotten."""
        now = self._clock()
        if now - self._last < self.interval:
            return False
        self._last = now
        import psutil  # the agents never load this; the coordinator only when sampling

        wanted = set(pids)
        for pid in [p for p in self._procs if p not in wanted]:
            del self._procs[pid]
            self._usage.pop(pid, None)
        for pid in wanted:
            proc = self._procs.get(pid)
            first = proc is None
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                with proc.oneshot():
                    cpu = proc.cpu_percent(None)
                    rss = int(proc.memory_info().rss)
            except psutil.Error:
                self._procs.pop(pid, None)
                self._usage.pop(pid, None)
                continue
            self._usage[pid] = Usage(rss_bytes=rss, cpu_percent=None if first else float(cpu))
        self.samples += 1
        return True

    def usage(self, pid: int | None) -> Usage | None:
        """The latest sample of ``pid`` (None if it was never sampled or is gone)."""
        return None if pid is None else self._usage.get(pid)
