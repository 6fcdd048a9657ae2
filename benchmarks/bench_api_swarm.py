"""Swarm-over-HTTP figures: one task submitted and waited for, batches of tasks, and
intent plans, all through the real API on loopback with real agent processes.

Run: ``.venv/bin/python benchmarks/bench_api_swarm.py``. Request counts are bounded.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _startup import engine_with_admin
from _util import report

TOOLS = """
from chimera_engine.tooling import tool


@tool(name="echo")
def echo(x: int = 0) -> int:
    return x


@tool(name="total")
def total(results: list) -> int:
    return sum(results)
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ws" / "tools").mkdir(parents=True)
        (root / "ws" / "tools" / "bench.py").write_text(TOOLS)
        env = {
            "CHIMERA_TOOLS__WATCH": "false",
            "CHIMERA_METRICS__ENABLED": "false",
            "CHIMERA_RATELIMIT__WRITE_PER_MINUTE": "1000000",
            "CHIMERA_RATELIMIT__READ_PER_MINUTE": "1000000",
        }
        async with engine_with_admin(root / "data", env=env, workspace=root / "ws") as (
            node,
            admin,
        ):
            assert node.api is not None
            headers = {"Authorization": f"Bearer {admin.tokens.access_token}"}
            async with httpx.AsyncClient(base_url=node.api.url, headers=headers, timeout=60) as c:
                r = await c.post("/api/swarm/spawn", json={"role": "executor", "count": 2})
                assert r.status_code == 201, r.text

                latencies = []
                for n in range(200):
                    start = time.perf_counter()
                    r = await c.post(
                        "/api/swarm/task", json={"tool": "echo", "inputs": {"x": n}, "wait": 10}
                    )
                    latencies.append((time.perf_counter() - start) * 1e3)
                    assert r.json()["tasks"][0]["result"] == n
                report("HTTP submit + wait, one task, median", statistics.median(latencies), "ms")
                report("HTTP submit + wait, one task, p99", percentile(latencies, 0.99), "ms")

                batches, size = 10, 500
                start = time.perf_counter()
                ids: list[str] = []
                for b in range(batches):
                    tasks = [{"tool": "echo", "inputs": {"x": b * size + i}} for i in range(size)]
                    r = await c.post("/api/swarm/task", json={"tasks": tasks})
                    ids.extend(t["id"] for t in r.json()["tasks"])
                await node.facade.swarm.wait(admin.principal, ids, 60)
                elapsed = time.perf_counter() - start
                report(
                    f"HTTP batches ({batches} x {size}) to all results",
                    len(ids) / elapsed,
                    "tasks/s",
                )

                form = {
                    "tool": "echo",
                    "over": {"param": "x", "items": list(range(200))},
                    "summary": {"tool": "total"},
                }
                plans = []
                for _ in range(20):
                    start = time.perf_counter()
                    r = await c.post("/api/intent/plan", json={"form": form})
                    plans.append((time.perf_counter() - start) * 1e3)
                    assert r.status_code == 200, r.text
                report("intent plan of 201 steps over HTTP, median", statistics.median(plans), "ms")
                start = time.perf_counter()
                r = await c.post("/api/intent/run", json={"form": form, "wait": 30})
                done = r.json()
                (out,) = [t for t in done["tasks"] if t["id"] in done["outputs"]]
                assert out["result"] == sum(range(200)), out
                report(
                    "intent run of 201 steps, to the summary",
                    (time.perf_counter() - start) * 1e3,
                    "ms",
                )


if __name__ == "__main__":
    asyncio.run(main())
