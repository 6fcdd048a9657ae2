"""Every panel at 1024x700, 1280x800 and 1920x1080, in the light and the dark theme.

A real engine runs the demo workload (tool calls, a fault injected early, its
anomalies and a patch request answered by the replay provider) on a copy of the
demo workspace. The main window then takes each size in turn and shows each
panel; the theme is switched live (View > Theme), as an operator would. Each
capture is ``<out>/<theme>/<width>x<height>/<panel>.png``. A window that cannot
shrink to a size (a panel needing more width) is reported and the run fails.

Run it on a real display for the figures that matter, e.g. under Xvfb with a
window manager: ``DISPLAY=:21 QT_QPA_PLATFORM=xcb python scripts/screenshots_sizes.py``
(the screen must be at least 1920x1080). Default output: a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = ((1024, 700), (1280, 800), (1920, 1080))
THEMES = ("light", "dark")
PASSWORD = "correct horse battery"
WARM_UP_S = 30.0
PANEL_SETTLE_S = 1.0


async def capture(out: Path, tmp: Path) -> int:
    import screenshots_patches  # a sibling of this script
    from screenshots_themes import slug

    from app.controller import ConsoleController
    from app.startup import bridge_for
    from chimera_engine.errors import ChimeraError

    node = await screenshots_patches.start_demo_node(REPO, tmp)
    bridge = bridge_for(node)
    failures = 0
    window = None
    try:
        await bridge.create_first_admin("admin", PASSWORD)
        who = bridge.principal
        with contextlib.suppress(ChimeraError):
            await node.facade.request_patch(who, screenshots_patches.MODULE)
        await asyncio.sleep(WARM_UP_S)
        window = ConsoleController(bridge).build_main_window()
        window.show()
        for theme in THEMES:
            window.desktop.set_theme(theme)
            for width, height in SIZES:
                window.resize(width, height)
                await asyncio.sleep(0.5)
                if window.width() > width:
                    print(f"!! {theme} {width}x{height}: the window stays {window.width()} px wide")
                    failures += 1
                folder = out / theme / f"{width}x{height}"
                folder.mkdir(parents=True, exist_ok=True)
                for name in window.panel_names():
                    window.show_panel(name)
                    await asyncio.sleep(PANEL_SETTLE_S)
                    path = folder / f"{slug(name)}.png"
                    if not window.grab().save(str(path)):
                        raise RuntimeError(f"could not write {path}")
                    print(f"wrote {path}", flush=True)
    finally:
        if window is not None:
            window.close_quietly()
            window.deleteLater()
        await bridge.aclose()
        await node.stop()
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the PNGs (default: a temporary one)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync

    from app.main import create_application

    out = args.out or Path(tempfile.mkdtemp(prefix="chimera-sizes-"))
    app = create_application("chimera-console")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with tempfile.TemporaryDirectory(prefix="chimera-shots-") as tmp, loop:
            return int(loop.run_until_complete(capture(out.resolve(), Path(tmp))))
    finally:
        asyncio.set_event_loop(None)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "scripts"))
    sys.exit(main())
