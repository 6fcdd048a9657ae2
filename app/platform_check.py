"""Before Qt starts: can its X11 platform plugin load here?

Without the xcb helper libraries Qt prints a misleading line and aborts the
process (a core dump). :func:`missing_xcb_libraries` finds out first, by loading
each library Qt's xcb plugin links against, so the console can name them and
point to ``make run`` (which installs them) instead.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Mapping

#: Library file -> Debian package, as ``scripts/bootstrap.sh run`` installs them.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def wants_xcb(env: Mapping[str, str]) -> bool:
    """True when Qt would pick its X11 plugin: asked for, or a DISPLAY and no Wayland."""
    platform = env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip()
    if platform:
        return platform == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def missing_xcb_libraries(
    env: Mapping[str, str] | None = None, loads: Callable[[str], bool] = _loads
) -> list[str]:
    """The Debian packages of the xcb libraries that do not load (empty: all fine, or
    Qt will not use xcb at all).

    >>> missing_xcb_libraries({"QT_QPA_PLATFORM": "offscreen"}, loads=lambda name: False)
    []
    >>> missing_xcb_libraries({"DISPLAY": ":1"}, loads=lambda n: n != "libxcb-icccm.so.4")
    ['libxcb-icccm4']
    """
    env = os.environ if env is None else env
    if not wants_xcb(env):
        return []
    return [package for name, package in XCB_LIBRARIES.items() if not loads(name)]


def xcb_advice(packages: list[str]) -> str:
    """What to tell the operator when ``packages`` are missing."""
    return (
        "Qt's X11 platform plugin cannot load: the system libraries "
        f"{', '.join(packages)} are missing.\n"
        "Start the console with `make run` (it installs them through scripts/bootstrap.sh run), "
        f"or install them: apt-get install -y {' '.join(packages)}\n"
        "(QT_QPA_PLATFORM=offscreen runs the console without a display, e.g. for --self-test.)"
    )
