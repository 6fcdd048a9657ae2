"""API figures: authenticated throughput and latency on loopback, rate-limit check cost,
and a flood held to its rate while another client is served.

Run: ``.venv/bin/python benchmarks/bench_api.py``. The engine serves from this
process; the load comes from a separate client process (aiohttp, keep-alive,
16 concurrent connections), so the two do not share a core's event loop.
Request counts are bounded; only loopback is used.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _startup import engine_with_admin, temp_data_dir
from _util import per_call_us, report

from chimera_engine.security.ratelimit import ClientRateLimiter, RateLimit

CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import aiohttp

    async def main(url, headers, total, concurrency):
        latencies, statuses = [], {}
        async with aiohttp.ClientSession(headers=headers) as session:
            queue = iter(range(total))
            async def worker():
                for _ in queue:
                    t = time.perf_counter()
                    async with session.get(url) as r:
                        await r.read()
                        statuses[r.status] = statuses.get(r.status, 0) + 1
                    latencies.append(time.perf_counter() - t)
            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
        print(json.dumps({"elapsed": elapsed, "latencies": latencies, "statuses": statuses}))

    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    """
)


async def load(url: str, headers: dict[str, str], total: int, concurrency: int) -> dict:  # type: ignore[type-arg]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        url,
        json.dumps(headers),
        str(total),
        str(concurrency),
        stdout=subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    return json.loads(out)  # type: ignore[no-any-return]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    data = temp_data_dir("chimera-bench-api-") / "data"
    env = {"CHIMERA_RATELIMIT__READ_PER_MINUTE": "10000000"}
    async with engine_with_admin(data, env=env, name="bench") as (node, admin):
        assert node.api is not None
        auth = {"Authorization": f"Bearer {admin.tokens.access_token}"}
        url = f"{node.api.url}/api/tools"
        await load(url, auth, 500, 8)  # warm-up
        rates, p50s, p99s = [], [], []
        for _ in range(5):
            result = await load(url, auth, 5000, 16)
            assert set(result["statuses"]) == {"200"}, result["statuses"]
            rates.append(5000 / result["elapsed"])
            p50s.append(pct(result["latencies"], 0.50) * 1e3)
            p99s.append(pct(result["latencies"], 0.99) * 1e3)
        report(
            "authenticated GET /api/tools, median of 5 runs",
            statistics.median(rates),
            "req/s",
            ">= 2,000 req/s",
        )
        report("  latency p50 (median of runs)", statistics.median(p50s), "ms")
        report("  latency p99 (median of runs)", statistics.median(p99s), "ms", "<= 20 ms")

        # a flood from one API key limited to 600/min, while an operator keeps working
        key, _ = await node.facade.admin.create_api_key(
            admin.principal, name="flood", role="api_client", rate_limit=600
        )
        flood_task = asyncio.create_task(load(url, {"X-API-Key": key}, 4000, 8))
        await asyncio.sleep(0.05)
        normal = await load(url, auth, 1000, 2)
        flood = await flood_task
        accepted = flood["statuses"].get("200", 0)
        allowed = 600 / 60 * flood["elapsed"] + 600 // 6  # sustained rate x time + burst
        report(
            f"flood: {sum(flood['statuses'].values())} requests in {flood['elapsed']:.2f} s, "
            "accepted",
            accepted,
            "req",
            f"<= {allowed:.0f} (10/s + burst 100)",
        )
        report("flood: answered 429", flood["statuses"].get("429", 0), "req")
        report("meanwhile the operator: successful", normal["statuses"].get("200", 0), "of 1000")

    limiter = ClientRateLimiter({"read": RateLimit(1000, 100)}, default=RateLimit(10, 10))
    clients = [f"client-{i}" for i in range(1000)]
    it = iter(range(10**9))
    median, _ = per_call_us(lambda: limiter.check(clients[next(it) % 1000], "read"), number=50_000)
    report("rate-limit check (1,000 clients), median", median, "us", "<= 5 us")


if __name__ == "__main__":
    asyncio.run(main())
