"""The demo's fault suite, headless: each fault injected into a fresh engine, and the
engine left to heal itself.

For every fault (see chimera_engine/demo/faults.py) a new HeartNode starts on a
fresh copy of the demo workspace with its HTTP API on loopback, two swarm agents,
the demo workload (normal traffic), metacognition on, and the demo's scripted
answers (written by hand for these faults) standing in for the LLM. After a
baseline period of normal traffic the fault is triggered and the run waits for
the fault's own recovery condition (or a time limit).

Each fault runs under every configuration asked for (``--configs``):

- ``lenient``: auto-approve on with a 400-line limit, answers at once (the
  figures this benchmark used to report alone);
- ``default``: the shipped patch policy (no auto-approval, so an operator
  approves a ready patch one second after it is ready), answers at once;
- ``default+3s`` / ``default+15s``: the same with every answer taking 3 s or
  15 s, as a hosted or a local model does.

Per fault and configuration it prints:

- detect: fault start -> the engine's first signal about the fault's tool (an
  anomaly or a forecast on its metrics, or metacognition asking for a fix);
- patch: fault start -> the first patch of the fault's module that passed its
  tests in the sandbox;
- recover: fault start -> the fault's recovery condition holds;
- failed calls: calls (normal and fault-shaped) that failed between fault start
  and recovery;
- lost tasks: swarm tasks submitted by the workload that never reached a final
  state (checked after the run drains);
- bad patches kept: patches of the module that were kept (not rolled back) but
  after which the fault did not recover; rolled back patches are listed too.

Targets: every fault detected and recovered, median time to recovery <= 30 s,
0 lost tasks, 0 bad patches kept.

Auto-approval only covers patches rated low risk; with ``--operator-approves`` an
operator (a real account) also approves, in every configuration, any patch of the
module that is ready for review, one second after it is, as in the manual branch
of scenario 1. A run of all four configurations takes about 17 minutes (2 busy cores).

Usage: python benchmarks/bench_faults.py [--faults csv_shape,latency_leak]
       [--configs lenient,default,default+3s,default+15s]
       [--baseline 20] [--limit 150] [--operator-approves]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from _startup import PASSWORD, engine_settings, first_admin, running_engine, sign_in

from chimera_engine.demo.faults import FAULTS, Fault, FaultState
from chimera_engine.demo.runner import SERVICE
from chimera_engine.errors import ChimeraError
from chimera_engine.events import (
    AnomalyDetected,
    Event,
    FailurePredicted,
    LearningRequested,
    PatchChanged,
)
from chimera_engine.patches.configure import default_transcript
from chimera_engine.patches.generator import GenerationPolicy
from chimera_engine.patches.providers.base import Completion, CompletionRequest
from chimera_engine.patches.providers.replay import ReplayProvider

ENV = {
    "CHIMERA_API__PORT": "0",
    "CHIMERA_DEMO__ENABLED": "true",
    "CHIMERA_DEMO__START_DELAY": "0",
    "CHIMERA_DEMO__FAULTS": "false",
    "CHIMERA_DEMO__AGENTS": "2",
    "CHIMERA_DEMO__RATE": "8",
    "CHIMERA_CODEGEN__PROVIDER": "replay",
    "CHIMERA_CODEGEN__WATCH_SECONDS": "15",
    "CHIMERA_CODEGEN__WATCH_MIN_CALLS": "10",
    "CHIMERA_HEAL__WARMUP_SECONDS": "5",
    "CHIMERA_HEAL__SETTLE_SECONDS": "5",
    # the demo tools answer in a few ms: forecast a latency problem well before 1 s
    "CHIMERA_METRICS__LATENCY_THRESHOLD_MS": "200",
}
TESTED = ("ready", "approved", "applied", "kept")


@dataclass(frozen=True)
class Config:
    """How patches are decided and how long the model takes per answer."""

    name: str
    env: dict[str, str]
    latency_s: float = 0.0
    operator: bool = False


LENIENT = {
    "CHIMERA_CODEGEN__AUTO_APPROVE": "true",
    "CHIMERA_CODEGEN__AUTO_APPROVE_MAX_LINES": "400",
}
CONFIGS = {
    "lenient": Config("lenient", LENIENT),
    "default": Config("default", {}, operator=True),
    "default+3s": Config("default+3s", {}, latency_s=3.0, operator=True),
    "default+15s": Config("default+15s", {}, latency_s=15.0, operator=True),
}


class SlowModel:
    """The scripted answers, each given only after ``latency_s`` seconds, as a model."""

    def __init__(self, inner: ReplayProvider, latency_s: float) -> None:
        self.inner = inner
        self.latency_s = latency_s
        self.name = inner.name
        self.model = inner.model
        self.is_replay = inner.is_replay

    async def complete(self, request: CompletionRequest) -> Completion:
        await asyncio.sleep(self.latency_s)
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Outcome:
    fault: str
    config: str = "lenient"
    detect_s: float | None = None
    signal: str = ""
    patch_s: float | None = None
    recover_s: float | None = None
    failed_calls: int = 0
    lost_tasks: int = 0
    patches: dict[int, str] = field(default_factory=dict)
    bad_kept: int = 0
    approved_by_operator: int = 0
    note: str = ""


def _tool_of(metric: str) -> str:
    start = metric.find("tool=")
    if start < 0:
        return ""
    return metric[start + 5 :].split(",")[0].rstrip("}")


def _relevant(event: Event, fault: Fault) -> str:
    """The kind of signal ``event`` is about ``fault``'s tool, or ''."""
    if isinstance(event, LearningRequested) and event.module == fault.module:
        return f"learning requested ({event.trigger})"
    if isinstance(event, AnomalyDetected):
        metric = event.event.metric
    elif isinstance(event, FailurePredicted):
        metric = event.alert.metric
    else:
        return ""
    if fault.via == "swarm":
        hit = metric.startswith("agent.rss_mb") and "role=analyzer" in metric
    else:
        hit = metric.startswith("tool.") and _tool_of(metric) == fault.tool
    if not hit:
        return ""
    kind = "anomaly" if isinstance(event, AnomalyDetected) else "forecast"
    return f"{kind} on {metric}"


async def run_fault(
    name: str,
    baseline: float,
    limit: float,
    root: Path,
    operator_approves: bool = False,
    config: Config = CONFIGS["lenient"],
) -> Outcome:
    out = Outcome(fault=name, config=config.name)
    env = {**ENV, **config.env}
    settings = engine_settings(root / f"{name}-{config.name}", env=env)
    slow: SlowModel | None = None
    async with running_engine(settings) as node:
        if config.latency_s:
            cg = settings.codegen
            slow = SlowModel(ReplayProvider(default_transcript()), config.latency_s)
            node.use_provider(
                slow,
                GenerationPolicy(
                    max_attempts=cg.max_attempts,
                    max_cost_usd=cg.max_cost_usd,
                    max_tokens=cg.max_tokens,
                    timeout=cg.request_timeout,
                ),
            )
        demo = node.demo
        assert demo is not None
        operator = None
        if operator_approves or config.operator:
            admin = await first_admin(node)
            await node.facade.admin.create_user(admin.principal, "olga", PASSWORD, "operator")
            operator = (await sign_in(node, "olga")).principal
        ready_since: dict[int, float] = {}
        sub = node.bus.subscribe(
            AnomalyDetected, FailurePredicted, LearningRequested, PatchChanged, maxsize=100_000
        )
        await asyncio.sleep(baseline)  # normal traffic: the detectors learn what is normal
        while sub.get_nowait() is not None:  # signals of the baseline are not the fault's
            pass
        fault = demo.fault(name)
        workload = demo.workload
        failures_before = workload.failures
        started = time.time()
        await demo.trigger(name, SERVICE)
        recovered_at: float | None = None
        while time.time() - started < limit:
            await asyncio.sleep(0.25)
            while (event := sub.get_nowait()) is not None:
                signal = _relevant(event, fault)
                if signal and out.detect_s is None:
                    out.detect_s, out.signal = event.ts - started, signal
                if isinstance(event, PatchChanged) and event.module == fault.module:
                    out.patches[event.patch_id] = event.state
                    if event.state in TESTED and out.patch_s is None:
                        out.patch_s = event.ts - started
                    if event.state == "ready":
                        ready_since[event.patch_id] = time.time()
            for pid, since in list(ready_since.items()):
                waited = time.time() - since >= 1.0
                if operator is not None and out.patches.get(pid) == "ready" and waited:
                    del ready_since[pid]
                    with contextlib.suppress(ChimeraError):
                        await node.facade.patches.approve_patch(operator, pid)
                        out.approved_by_operator += 1
            if fault.state is FaultState.RECOVERED and recovered_at is None:
                recovered_at = fault.recovered_at or time.time()
                out.recover_s = recovered_at - started
                out.failed_calls = workload.failures - failures_before
            if recovered_at is not None and _settled(out) and time.time() - recovered_at > 3:
                break
        if out.recover_s is None:
            out.failed_calls = workload.failures - failures_before
            out.note = f"not recovered within {limit:g} s: {fault.state.value}, {fault.detail}"
        await demo.clear(name, SERVICE)
        # let the workload's swarm tasks finish, then count what never did
        demo.workload.pause()
        await demo.workload.drain(timeout=20)
        out.lost_tasks = workload.status().swarm_pending
        if node.swarm_running:
            out.lost_tasks += node.swarm.stats().unfinished
        kept = [pid for pid, state in out.patches.items() if state == "kept"]
        out.bad_kept = len(kept) if out.recover_s is None else 0
        sub.close()
    if slow is not None:
        await slow.aclose()
    return out


def _settled(out: Outcome) -> bool:
    """No patch of the module is still being tested or watched."""
    return all(s in ("kept", "rolled_back", "rejected", "superseded") for s in out.patches.values())


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:6.1f} s"


def report(outcomes: list[Outcome]) -> bool:
    print()
    head = f"{'fault':<14}{'config':<13}{'detect':>10}{'patch':>10}{'recover':>10}"
    print(head + f"{'failed':>8}{'lost':>6}{'bad kept':>10}  patches / signal")
    for o in outcomes:
        states = ", ".join(f"#{pid} {state}" for pid, state in sorted(o.patches.items())) or "none"
        print(
            f"{o.fault:<14}{o.config:<13}{fmt(o.detect_s):>10}{fmt(o.patch_s):>10}"
            f"{fmt(o.recover_s):>10}"
            f"{o.failed_calls:>8}{o.lost_tasks:>6}{o.bad_kept:>10}  {states}; {o.signal or '-'}"
        )
        if o.approved_by_operator:
            print(f"{'':<14}{o.approved_by_operator} patch(es) approved by the operator")
        if o.note:
            print(f"{'':<14}{o.note}")
    print()
    print("median time to recovery per configuration (a fault that did not recover counts")
    print("as not recovered, not as a time):")
    for config in dict.fromkeys(o.config for o in outcomes):
        mine = [o for o in outcomes if o.config == config]
        times = [o.recover_s for o in mine if o.recover_s is not None]
        middle = f"{statistics.median(times):6.1f} s" if times else "     -"
        print(f"  {config:<13} {middle}  recovered {len(times)}/{len(mine)}")
    recovered = [o.recover_s for o in outcomes if o.recover_s is not None]
    median = statistics.median(recovered) if recovered else float("nan")
    detected = sum(o.detect_s is not None for o in outcomes)
    print()
    print(f"detected {detected}/{len(outcomes)}, recovered {len(recovered)}/{len(outcomes)}")
    print(f"median time to recovery {median:.1f} s (target <= 30 s)")
    print(f"lost tasks {sum(o.lost_tasks for o in outcomes)} (target 0)")
    print(f"bad patches kept {sum(o.bad_kept for o in outcomes)} (target 0)")
    return (
        detected == len(outcomes)
        and len(recovered) == len(outcomes)
        and median <= 30
        and not any(o.lost_tasks or o.bad_kept for o in outcomes)
    )


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--baseline", type=float, default=20.0)
    parser.add_argument("--limit", type=float, default=150.0)
    parser.add_argument("--operator-approves", action="store_true")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    args = parser.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    if bad := [c for c in configs if c not in CONFIGS]:
        parser.error(f"unknown configurations: {', '.join(bad)}")
    names = [n.strip() for n in args.faults.split(",") if n.strip()]
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        parser.error(f"unknown faults: {', '.join(unknown)}")
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        for config in configs:
            for name in names:
                print(f"== {name} ({config})", flush=True)
                with contextlib.suppress(KeyboardInterrupt):
                    outcomes.append(
                        await run_fault(
                            name,
                            args.baseline,
                            args.limit,
                            Path(tmp),
                            args.operator_approves,
                            CONFIGS[config],
                        )
                    )
    met = report(outcomes)
    print("all targets met" if met else "targets not met")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
