"""Without Qt's xcb libraries the console says what to install instead of aborting."""

from __future__ import annotations

from pathlib import Path

import pytest

import app.main
from app.platform_check import missing_xcb_libraries, wants_xcb


def test_which_platform_wants_xcb() -> None:
    assert wants_xcb({"DISPLAY": ":0"})
    assert wants_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert not wants_xcb({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})
    assert not wants_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"})
    assert not wants_xcb({})


def test_a_library_that_does_not_exist_is_named() -> None:
    real = missing_xcb_libraries({"QT_QPA_PLATFORM": "xcb"}, loads=lambda n: n != "libnone.so")
    assert real == []
    named = missing_xcb_libraries(
        {"QT_QPA_PLATFORM": "xcb"}, loads=lambda n: not n.startswith("libxcb-icccm")
    )
    assert named == ["libxcb-icccm4"]


def test_console_points_to_make_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(app.main, "missing_xcb_libraries", lambda: ["libxcb-icccm4"])
    assert app.main.main(["--data-dir", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "make run" in err and "apt-get install -y libxcb-icccm4" in err
    assert not list(tmp_path.iterdir()), "nothing was started"
