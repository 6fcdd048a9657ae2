"""Foundation figures: JWT verify, permission check, audit throughput, cold start, idle lag.

Run: ``.venv/bin/python benchmarks/bench_foundation.py`` (``make bench``).
Every figure is a median over several runs; the console start-up is measured
on real processes (offscreen), first run discarded as a cache warm-up.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _startup import engine_with_admin, temp_data_dir
from _util import per_call_us, report

from chimera_engine.security.manager import SecurityManager
from chimera_engine.security.permissions import Permission, Role, has_permission
from chimera_engine.security.principal import Principal


async def audit_append_rate(security: SecurityManager, principal: Principal) -> tuple[float, float]:
    """Medians, over 5 rounds of 20,000 concurrent appends, of audit entries per second
    and of this process's CPU time per entry in microseconds (every thread: the loop's
    and the writer's; on a shared machine the steadier of the two figures)."""
    rates, cpu = [], []
    for _ in range(5):
        n = 20_000
        start, cpu_start = time.perf_counter(), time.process_time()
        await asyncio.gather(
            *(security.audit.record(principal, "bench.append", target=str(i)) for i in range(n))
        )
        rates.append(n / (time.perf_counter() - start))
        cpu.append((time.process_time() - cpu_start) / n * 1e6)
    return statistics.median(rates), statistics.median(cpu)


async def engine_figures() -> None:
    async with engine_with_admin(temp_data_dir("chimera-bench-"), name="bench") as (node, session):
        token = session.tokens.access_token
        security = node.security

        median, _ = per_call_us(lambda: security.principal_from_token(token), number=2000)
        report("JWT verify (decode + all checks), median", median, "us", "<= 50 us")

        median, _ = per_call_us(
            lambda: has_permission(Role.OPERATOR, Permission.PATCH_APPROVE), number=100_000
        )
        report("permission check, median", median, "us")

        principal = session.principal
        median_authz = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(5000):
                await security.authorize(principal, Permission.AUDIT_READ)
            median_authz.append((time.perf_counter() - start) / 5000 * 1e6)
        report("authorize() incl. session check, median", statistics.median(median_authz), "us")

        rate, cpu_us = await audit_append_rate(security, principal)
        report("audit append, persisted + chained, median", rate, "entries/s", ">= 20,000/s")
        report("audit append, CPU per entry, median", cpu_us, "us")
        verify_start = time.perf_counter()
        result = await security.audit.verify()
        report(f"audit verify of {result.checked} entries", time.perf_counter() - verify_start, "s")

        node.loop_lag.interval = 0.01
        lag_samples_before = len(node.loop_lag._samples)
        await asyncio.sleep(10)
        stats = node.loop_lag.stats()
        report(
            f"loop lag p99 while idle ({stats.samples - lag_samples_before} samples)",
            stats.p99_ms,
            "ms",
            "<= 5 ms",
        )


def cold_start_figures(runs: int = 6) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    times: list[float] = []
    for i in range(runs + 1):
        data = tempfile.mkdtemp(prefix="chimera-start-")
        proc = subprocess.run(
            [sys.executable, "-m", "app.main", "--data-dir", data, "--startup-probe"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("startup-probe")), "")
        if proc.returncode != 0 or not line:
            print(f"console start-up failed: rc={proc.returncode}\n{proc.stderr[-2000:]}")
            return
        if i:  # the first run warms the file cache
            times.append(float(line.split()[-1]))
    report(
        f"console cold start to login dialog, median of {runs}",
        statistics.median(times),
        "s",
        "<= 1.5 s",
    )


def main() -> None:
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    asyncio.run(engine_figures())
    cold_start_figures()


if __name__ == "__main__":
    main()
