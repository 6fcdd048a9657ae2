"""The console as a real process, signed in and out like an operator: the child side of
``bench_desktop.py --only session``.

The child runs the application's own flow (engine, sign-in dialog, main window) on
whatever display Qt gets (``QT_QPA_PLATFORM=xcb`` under Xvfb with a window manager for
the figures that count), types the password into the real dialog and clicks Sign in,
and prints one ``figure <name> <value>`` line per measurement:

* ``login_painted_s``: process creation -> first paint of the sign-in dialog;
* ``main_painted_s``: the Sign in click -> first paint of the Overview (median of cycles);
* ``stall_ms``: the longest the loop did not run a 5 ms timer between the click and
  one second after that paint (median and worst over cycles);
* ``rss_growth_mb``: resident memory after the last cycle minus after the first;
* ``hung`` / ``respawned``: agents the swarm declared hung or respawned meanwhile;
* ``cpu_overview_pct`` / ``cpu_dashboard_pct``: the console's own CPU (not its agents)
  with the demo paused, the panel in front, over ``cpu_s`` seconds;
* ``lag_p99_ms``: the engine's loop lag p99 over that time (10 ms probe).

``BENCH_STACKS=1`` prints the GUI thread's stack whenever the loop stalls more than
120 ms during a sign-in (to find what blocks it).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery"
STALL_PROBE_S = 0.005
#: Seconds from the sign-in dialog on screen to the click on Sign in.
TYPING_S = 2.5


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def figure(name: str, value: float) -> None:
    print(f"figure {name} {value:.3f}", flush=True)


class StallProbe:
    """Longest gap between two runs of a short timer, while :attr:`armed`."""

    def __init__(self) -> None:
        self.armed = False
        self.worst = 0.0
        self.origin = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        if os.environ.get("BENCH_STACKS"):
            import threading
            import traceback

            main_id = threading.get_ident()
            self.tick = time.perf_counter()

            def watch() -> None:
                reported = 0.0
                while True:
                    time.sleep(0.02)
                    gap = time.perf_counter() - self.tick
                    if self.armed and gap > 0.12 and self.tick != reported:
                        reported = self.tick
                        frame = sys._current_frames().get(main_id)
                        stack = "".join(traceback.format_stack(frame, limit=14)[-10:])
                        since = self.tick - self.origin
                        print(
                            f"--- stalled {gap * 1e3:.0f} ms, {since * 1e3:.0f} ms after the click:"
                            f"\n{stack}",
                            file=sys.stderr,
                        )

            threading.Thread(target=watch, daemon=True).start()
        while True:
            self.tick = time.perf_counter()
            start = loop.time()
            await asyncio.sleep(STALL_PROBE_S)
            late = loop.time() - start - STALL_PROBE_S
            if self.armed:
                self.worst = max(self.worst, late)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class FirstPaint:
    """Resolves a future at the first paint event of a widget."""

    def __init__(self, widget: Any) -> None:
        from PySide6.QtCore import QEvent, QObject

        loop = asyncio.get_running_loop()
        self.future: asyncio.Future[float] = loop.create_future()
        future = self.future

        class Filter(QObject):
            def eventFilter(self, watched: QObject, event: QEvent) -> bool:
                if event.type() == QEvent.Type.Paint and not future.done():
                    future.set_result(time.perf_counter())
                return False

        self._filter = Filter(widget)
        widget.installEventFilter(self._filter)


async def sample_lag(into: list[float], interval: float = 0.01) -> None:
    """The loop's lateness for a ``interval`` timer, appended until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        into.append(max(0.0, loop.time() - start - interval))


async def drive(data_dir: Path, cycles: int, cpu_s: float) -> None:
    from PySide6.QtCore import QTimer

    from app.controller import ConsoleController
    from app.main import seconds_since_process_start
    from app.startup import bridge_for
    from chimera_engine.config import load_settings
    from chimera_engine.node import HeartNode
    from chimera_engine.swarm.events import AgentChanged

    node = HeartNode(load_settings(data_dir=data_dir, env={"CHIMERA_API__PORT": "0"}))
    await node.start()
    bridge = bridge_for(node)
    await node.facade.create_first_admin("bench", PASSWORD)
    demo_running_at = time.perf_counter() + node.settings.demo.start_delay + 1.0
    changes = node.bus.subscribe(AgentChanged)
    controller = ConsoleController(bridge)
    probe = StallProbe()
    probe.start()
    dialogs: asyncio.Queue[Any] = asyncio.Queue()
    windows: asyncio.Queue[Any] = asyncio.Queue()
    controller.dialogShown.connect(dialogs.put_nowait)
    controller.mainWindowOpened.connect(windows.put_nowait)
    flow = asyncio.ensure_future(controller.run())
    painted: list[float] = []
    stalls: list[float] = []
    rss: list[float] = []
    try:
        for cycle in range(cycles):
            dialog = await asyncio.wait_for(dialogs.get(), 30)
            shown = FirstPaint(dialog)
            await asyncio.wait_for(shown.future, 30)
            if cycle == 0:
                figure("login_painted_s", seconds_since_process_start())
            # An operator types the password meanwhile (the first time, the demo starts).
            await asyncio.sleep(max(TYPING_S, demo_running_at - time.perf_counter()))
            gc.collect()
            rss.append(rss_mb())
            dialog.username_edit.setText("bench")
            dialog.password_edit.setText(PASSWORD)
            probe.worst = 0.0
            probe.armed = True
            clicked = probe.origin = time.perf_counter()
            QTimer.singleShot(0, dialog.sign_in_button.click)
            window = await asyncio.wait_for(windows.get(), 30)
            overview = FirstPaint(window.panel("Overview"))
            painted.append(await asyncio.wait_for(overview.future, 30) - clicked)
            if os.environ.get("BENCH_STACKS"):
                print(f"--- painted {painted[-1] * 1e3:.0f} ms after the click", file=sys.stderr)
            await asyncio.sleep(1.0)
            probe.armed = False
            stalls.append(probe.worst)
            await asyncio.sleep(1.0 if cycle < cycles - 1 else 0.5)
            if cycle < cycles - 1:
                window.logout_action.trigger()
        figure("main_painted_s", statistics.median(painted))
        figure("main_painted_max_s", max(painted))
        figure("stall_ms", statistics.median(stalls) * 1e3)
        figure("stall_max_ms", max(stalls) * 1e3)
        figure("cycles", len(painted))
        if len(rss) >= 2:
            figure("rss_first_mb", rss[0])
            figure("rss_growth_mb", rss[-1] - rss[1])
        seen = []
        while len(changes):
            seen.append(changes.get_nowait().change)  # type: ignore[union-attr]
        figure("hung", seen.count("hung"))
        figure("respawned", seen.count("respawned"))

        window = controller.window
        assert window is not None
        principal = bridge.principal
        await node.facade.demo_pause(principal)
        for panel in ("Overview", "Dashboard"):
            window.show_panel(panel)
            await asyncio.sleep(3.0)
            lags: list[float] = []
            lag_task = asyncio.ensure_future(sample_lag(lags))
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(cpu_s)
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0) * 100
            lag_task.cancel()
            await asyncio.gather(lag_task, return_exceptions=True)
            figure(f"cpu_{panel.lower()}_pct", cpu)
            lags.sort()
            if lags:
                p99 = lags[max(0, round(0.99 * len(lags) + 0.5) - 1)]
                figure(f"lag_p99_{panel.lower()}_ms", p99 * 1e3)
    finally:
        probe.armed = False
        await probe.stop()
        if not flow.done():
            flow.cancel()
        await asyncio.gather(flow, return_exceptions=True)
        await bridge.aclose()
        await node.stop()


def child(data_dir: Path, cycles: int, cpu_s: float) -> int:
    import qasync

    from app.main import create_application

    app = create_application("chimera-console")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(drive(data_dir, cycles, cpu_s))
    return 0
