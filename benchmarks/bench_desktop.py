"""Desktop figures: bundle size, cold start to the login window (bundle and source
install), the console's idle CPU with the demo paused and with it running.

Run: ``.venv/bin/python benchmarks/bench_desktop.py [--cpu-seconds 30] [--runs 5]``
(``make bench``). The bundle figures need ``make bundle`` first
(``dist/chimera-console/``); without it they are skipped.

* Cold start: the console's own start-up probe (``--startup-probe``: seconds from
  process creation until the sign-in dialog is shown), on a fresh data directory
  each run, offscreen; median of ``--runs`` after one warm-up run.
* Idle CPU: a real console (engine, first administrator, main window with every
  panel, offscreen) in a child process; psutil samples its CPU time over
  ``--cpu-seconds`` after it settled, as a percentage of one core. Its own
  process and, separately, its agent processes (the demo runs tools on them).
* Sign-in session (``--only session``, needs a display: run it under Xvfb with a
  window manager, e.g. ``DISPLAY=:21``): the real sign-in dialog and main window,
  ``--cycles`` sign-in/sign-out cycles with the demo running, then the demo paused
  on the Overview and on the Dashboard (see ``_desktop_session.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import report

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "dist" / "chimera-console"
BUNDLE_EXE = BUNDLE / "chimera-console"
PASSWORD = "correct horse battery"
SETTLE_S = 8.0


def offscreen_env() -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CHIMERA_API__PORT": "0"}


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def cold_start(command: list[str], runs: int) -> tuple[float, float] | None:
    """Median (probe seconds, wall seconds to the probe line) over ``runs`` after a warm-up."""
    probes: list[float] = []
    walls: list[float] = []
    for i in range(runs + 1):
        data = tempfile.mkdtemp(prefix="chimera-start-")
        try:
            start = time.perf_counter()
            proc = subprocess.run(
                [*command, "--data-dir", data, "--startup-probe"],
                capture_output=True,
                text=True,
                env=offscreen_env(),
                timeout=120,
            )
            wall = time.perf_counter() - start
        finally:
            shutil.rmtree(data, ignore_errors=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("startup-probe")), "")
        if proc.returncode != 0 or not line:
            print(f"start-up of {command[0]} failed: rc={proc.returncode}\n{proc.stderr[-2000:]}")
            return None
        if i:  # the first run warms the file cache
            probes.append(float(line.split()[-1]))
            walls.append(wall)
    return statistics.median(probes), statistics.median(walls)


# -- the idle console (child process) ----------------------------------------------------------
async def run_console_idle(demo: str, seconds: float) -> None:
    from app.controller import ConsoleController
    from app.startup import bridge_for
    from chimera_engine.config import load_settings
    from chimera_engine.node import HeartNode

    with tempfile.TemporaryDirectory(prefix="chimera-idle-") as tmp:
        node = HeartNode(load_settings(data_dir=Path(tmp), env=offscreen_env()))
        await node.start()
        bridge = bridge_for(node)
        try:
            await bridge.create_first_admin("bench", PASSWORD)
            principal = bridge.principal
            window = ConsoleController(bridge).build_main_window()
            window.show()
            # The workload starts after its start delay: let it, then set the state wanted.
            await asyncio.sleep(node.settings.demo.start_delay + 1.0)
            if demo == "running":
                status = await node.facade.demo_start(principal)
            else:
                status = await node.facade.demo_pause(principal)
            print(f"ready {demo} (workload {status.workload.state})", flush=True)
            await asyncio.sleep(seconds)
            window.close_quietly()
        finally:
            await bridge.aclose()
            await node.stop()


def idle_child(demo: str, seconds: float) -> int:
    import qasync

    from app.main import create_application

    app = create_application("chimera-console")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(run_console_idle(demo, seconds))
    return 0


def idle_cpu(demo: str, seconds: float) -> tuple[float, float] | None:
    """(console %, its agent processes %) of one core over ``seconds``."""
    import psutil

    command = [sys.executable, __file__, "--idle-child", demo, "--child-seconds"]
    proc = subprocess.Popen(
        [*command, str(seconds + SETTLE_S + 5)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=offscreen_env(),
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("ready"):
            print(f"the idle console did not start ({demo}): {line!r}")
            return None
        print(f"  {line.strip()}", flush=True)
        time.sleep(SETTLE_S)
        console = psutil.Process(proc.pid)

        def cpu_times() -> tuple[float, float]:
            own = console.cpu_times()
            children = 0.0
            for child in console.children(recursive=True):
                try:
                    times = child.cpu_times()
                    children += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            return own.user + own.system, children

        own0, kids0 = cpu_times()
        start = time.perf_counter()
        time.sleep(seconds)
        own1, kids1 = cpu_times()
        elapsed = time.perf_counter() - start
        return (own1 - own0) / elapsed * 100, max(0.0, kids1 - kids0) / elapsed * 100
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cpu-seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=("start", "cpu", "session"), help="one group of figures")
    parser.add_argument("--cycles", type=int, default=10, help="sign-in cycles (session)")
    parser.add_argument("--session-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--idle-child", choices=("paused", "running"), help=argparse.SUPPRESS)
    parser.add_argument("--child-seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.idle_child:
        return idle_child(args.idle_child, args.child_seconds)
    if args.session_child:
        from _desktop_session import child

        with tempfile.TemporaryDirectory(prefix="chimera-session-") as tmp:
            return child(Path(tmp), args.cycles, args.cpu_seconds)

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    if args.only in (None, "start"):
        start_figures(args.runs)
    if args.only in (None, "cpu"):
        cpu_figures(args.cpu_seconds)
    if args.only in (None, "session"):
        session_figures(args.cycles, args.cpu_seconds)
    return 0


SESSION_FIGURES = {
    "login_painted_s": ("launch -> sign-in dialog painted", "s", "<= 1.5 s"),
    "main_painted_s": ("sign-in -> main window painted, median", "s", "<= 1 s"),
    "main_painted_max_s": ("  worst cycle", "s", ""),
    "stall_ms": ("loop stall during sign-in, median", "ms", "<= 100 ms"),
    "stall_max_ms": ("  worst cycle", "ms", ""),
    "rss_growth_mb": ("RSS growth over the cycles (2nd to last)", "MB", "<= 5 MB"),
    "hung": ("agents declared hung during the cycles", "", "0"),
    "respawned": ("agents respawned during the cycles", "", "0"),
    "cpu_overview_pct": ("console CPU, demo paused, Overview", "% core", "< 2 %"),
    "lag_p99_overview_ms": ("  engine loop lag p99 meanwhile", "ms", "<= 5 ms"),
    "cpu_dashboard_pct": ("console CPU, demo paused, Dashboard", "% core", "< 2 %"),
    "lag_p99_dashboard_ms": ("  engine loop lag p99 meanwhile", "ms", "<= 5 ms"),
}


CHILD = (sys.executable, __file__)


def session_figures(cycles: int, cpu_seconds: float) -> None:
    """The console as a real process on the display Qt finds (DISPLAY: xcb)."""
    env = dict(os.environ)
    if env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "xcb"
        print(f"session: on display {env['DISPLAY']} (xcb), {cycles} sign-in cycles")
    else:
        env["QT_QPA_PLATFORM"] = "offscreen"
        print("session: no DISPLAY, offscreen (run under Xvfb for the real figures)")
    proc = subprocess.run(
        [*CHILD, "--session-child", "--cycles", str(cycles), "--cpu-seconds", str(cpu_seconds)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120 + cycles * 30 + cpu_seconds * 4,
    )
    values = {
        parts[1]: float(parts[2])
        for line in proc.stdout.splitlines()
        if (parts := line.split())[:1] == ["figure"] and len(parts) == 3
    }
    if proc.returncode != 0 or not values:
        print(f"the session run failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
        return
    for key, (name, unit, target) in SESSION_FIGURES.items():
        if key in values:
            report(name, values[key], unit, target)


def start_figures(runs: int) -> None:
    if BUNDLE_EXE.exists():
        report("bundle size (dist/chimera-console)", du_bytes(BUNDLE) / 2**20, "MiB")
        figures = cold_start([str(BUNDLE_EXE)], runs)
        if figures:
            report(f"bundle cold start to login, median of {runs}", figures[0], "s", "<= 1.5 s")
            report("  (wall time to the probe line)", figures[1], "s")
    else:
        print("bundle: not built (make bundle); its figures are skipped")
    figures = cold_start([sys.executable, "-m", "app.main"], runs)
    if figures:
        report(f"source cold start to login, median of {runs}", figures[0], "s", "<= 1.5 s")
        report("  (wall time to the probe line)", figures[1], "s")


def cpu_figures(seconds: float) -> None:
    for demo in ("paused", "running"):
        cpu = idle_cpu(demo, seconds)
        if cpu:
            target = "< 1 %" if demo == "paused" else ""
            report(f"console CPU, demo {demo} ({seconds:.0f} s)", cpu[0], "% core", target)
            report(f"  its agent processes, demo {demo}", cpu[1], "% core")


if __name__ == "__main__":
    sys.exit(main())
