"""Security figures: audit append and verify with the length-prefixed encoding and the
checkpoint, token verification with every revocation check, a throttled login.

Run: ``.venv/bin/python benchmarks/bench_security.py``. Every figure is a median
over several runs; on a shared machine they are noisy.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _startup import engine_with_admin, temp_data_dir
from _util import per_call_us, report
from bench_foundation import audit_append_rate

from chimera_engine.errors import AuthenticationError
from chimera_engine.security.permissions import Permission


async def main() -> None:
    data = temp_data_dir("chimera-bench-security-")
    env = {"CHIMERA_DEMO__ENABLED": "false"}
    async with engine_with_admin(data, env=env, name="bench") as (node, session):
        security = node.security
        token = session.tokens.access_token
        # a revocation list of realistic size: every check is a lookup in it
        for i in range(1000):
            await security.revocations.revoke(f"jti-{i}", time.time() + 3600, "logout")

        median, _ = per_call_us(lambda: security.principal_from_token(token), number=2000)
        report("JWT verify + epoch + revocation, median", median, "us", "<= 50 us")
        # the first sight of a token decodes it in full (PyJWT checks every character)
        fresh = iter(
            [
                security.jwt.issue(1, "bench", session.principal.role).access_token
                for _ in range(2200)
            ]
        )
        median, _ = per_call_us(lambda: security.jwt.verify(next(fresh)), number=200)
        report("JWT verify of a token not seen before, median", median, "us")
        principal = session.principal
        median, _ = per_call_us(lambda: security.check_session(principal), number=20_000)
        report("session check (WebSocket poll), median", median, "us")

        rate, cpu_us = await audit_append_rate(security, principal)
        report("audit append (checkpointed), median", rate, "entries/s", ">= 20,000/s")
        report("audit append, CPU per entry (all threads), median", cpu_us, "us")

        sequential = []
        for _ in range(3):
            start = time.perf_counter()
            for i in range(200):
                await security.audit.record(principal, "bench.one", target=str(i))
            sequential.append((time.perf_counter() - start) / 200 * 1e3)
        report("audit append, one at a time, median", statistics.median(sequential), "ms")

        times = []
        for _ in range(3):
            start = time.perf_counter()
            result = await security.audit.verify()
            times.append(time.perf_counter() - start)
        report(f"audit verify of {result.checked} entries, median", statistics.median(times), "s")
        report("audit verify rate", result.checked / statistics.median(times), "entries/s")

        await security.authorize(principal, Permission.USER_MANAGE)
        known, unknown = [], []
        pairs = [("bench", known), ("nobody-here", unknown)]
        for round_ in range(12):
            for name, bucket in pairs if round_ % 2 else pairs[::-1]:  # alternate the order
                start = time.perf_counter()
                with contextlib.suppress(AuthenticationError):
                    await security.login(name, "wrong password", client="bench")
                bucket.append((time.perf_counter() - start) * 1e3)
            await security.accounts.throttle.clear("bench")
            await security.accounts.throttle.clear("nobody-here")
        report("failed login, existing name, median", statistics.median(known), "ms")
        report("failed login, unknown name, median", statistics.median(unknown), "ms")


if __name__ == "__main__":
    asyncio.run(main())
