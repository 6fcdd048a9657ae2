"""Every panel of the console in the light and the dark theme, and at 200% scaling.

A real engine on a temporary data directory runs the demo workload (tool calls
through the runtime and the swarm, a fault injected early) on a copy of the demo
workspace, with the replay provider answering patch requests; an operator
requests a patch, creates an API key and verifies the audit chain. Then the
main window (1280x800) shows each panel it has in turn, and each is saved as
``<variant>/<panel>.png``, with the keyboard shortcuts sheet and the About dialog:

* ``docs/screenshots/light/``: the light theme,
* ``docs/screenshots/dark/``: the dark theme,
* ``docs/screenshots/scale200/``: the light theme at ``QT_SCALE_FACTOR=2`` (images
  twice the size: what a high-density screen shows).

Each variant runs in a process of its own (Qt fixes the scale factor at start).
Panels added to the console later are captured without changes here.

Usage: ``python scripts/screenshots_themes.py [--out docs/screenshots] [--only dark]``
(offscreen; ``DISPLAY=:N QT_QPA_PLATFORM=xcb`` to capture real windows on a display).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "light": ("light", {}),
    "dark": ("dark", {}),
    "scale200": ("light", {"QT_SCALE_FACTOR": "2"}),
}
PASSWORD = "correct horse battery"
WARM_UP_S = 25.0  # demo traffic, a fault, its anomalies and the patch's sandbox run
PANEL_SETTLE_S = 1.5


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


async def capture(out: Path, tmp: Path) -> None:
    import screenshots_patches  # a sibling of this script
    from PySide6.QtWidgets import QWidget

    from app.controller import ConsoleController
    from app.startup import bridge_for
    from chimera_engine.errors import ChimeraError

    node = await screenshots_patches.start_demo_node(REPO, tmp)
    bridge = bridge_for(node)
    widgets: list[QWidget] = []
    try:
        await bridge.create_first_admin("admin", PASSWORD)
        who = bridge.principal
        facade = node.facade
        await facade.create_user(who, "olivia", PASSWORD, "operator")
        await facade.create_api_key(who, name="grafana-push", role="api_client")
        with contextlib.suppress(ChimeraError):
            await facade.request_patch(who, screenshots_patches.MODULE)
        await asyncio.sleep(WARM_UP_S)
        await facade.audit_verify(who)

        window = ConsoleController(bridge).build_main_window()
        widgets.append(window)
        window.show()
        for name in window.panel_names():
            window.show_panel(name)
            await asyncio.sleep(PANEL_SETTLE_S)
            panel = window.panel(name)
            pending = getattr(panel, "pending_charts", None)
            if pending is not None:  # the Dashboard builds its charts one per loop turn
                for _ in range(150):
                    if not pending():
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(3.0)  # a few frames of every chart
            save(window, out / f"{slug(name)}.png")
        sheet = window.desktop.show_shortcuts()
        widgets.append(sheet)
        await asyncio.sleep(0.2)
        save(sheet, out / "shortcuts.png")
        sheet.close()
        about = window.desktop.show_about()
        widgets.append(about)
        await asyncio.sleep(0.2)
        save(about, out / "about.png")
        about.close()
    finally:
        for widget in widgets:
            widget.close()
            widget.deleteLater()
        await bridge.aclose()
        await node.stop()


def save(widget: object, path: Path) -> None:
    from PySide6.QtWidgets import QWidget

    assert isinstance(widget, QWidget)
    if not widget.grab().save(str(path)):
        raise RuntimeError(f"could not write {path}")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", flush=True)


def run_variant(out: Path, theme: str) -> int:
    """In this process: capture every panel in ``theme`` into ``out``."""
    import qasync

    from app.main import create_application

    out.mkdir(parents=True, exist_ok=True)
    app = create_application("chimera-console", theme)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with tempfile.TemporaryDirectory(prefix="chimera-shots-") as tmp, loop:
            loop.run_until_complete(capture(out, Path(tmp)))
    finally:
        asyncio.set_event_loop(None)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--only", choices=sorted(VARIANTS))
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        return run_variant(args.out.resolve() / args.variant, VARIANTS[args.variant][0])
    for name, (_theme, extra_env) in VARIANTS.items():
        if args.only and name != args.only:
            continue
        # Offscreen unless asked for a real display (QT_QPA_PLATFORM=xcb with DISPLAY set,
        # e.g. under Xvfb with a window manager): then the shots are of real windows.
        platform = os.environ.get("QT_QPA_PLATFORM") or "offscreen"
        env = {**os.environ, "QT_QPA_PLATFORM": platform, **extra_env}
        command = [sys.executable, __file__, "--out", str(args.out), "--variant", name]
        print(f"== {name}", flush=True)
        result = subprocess.run(command, env=env, cwd=REPO, check=False)
        if result.returncode != 0:
            print(f"{name}: the capture failed ({result.returncode})", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
