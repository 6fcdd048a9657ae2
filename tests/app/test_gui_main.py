"""``chimera-console`` start-up: argument errors, engine start failures, the start-up probe."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from app.main import main, run_console
from tests.app.conftest import make_settings

HEAVY_MODULES = ("numpy", "pyqtgraph", "sklearn", "scipy", "pandas")


def console(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def imported_modules(importtime_stderr: str) -> set[str]:
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", importtime_stderr, re.M)
    return {name.split(".")[0] for name in names}


def test_config_error_prints_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.toml"
    assert main(["--config", str(missing), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == f"chimera-console: {missing}: config file does not exist\n"

    broken = tmp_path / "broken.toml"
    broken.write_text("[security]\nlockout_threshold = 'many'\n")
    assert main(["--config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "security.lockout_threshold: expected an integer" in err


def test_startup_probe_reports_the_first_dialog_quickly(tmp_path: Path) -> None:
    result = console("--data-dir", str(tmp_path / "data"), "--startup-probe")
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.fullmatch(r"startup-probe login-window-shown (\d+\.\d{3})\n", result.stdout)
    assert match, result.stdout
    assert 0 < float(match.group(1)) < 5.0  # generous for CI; the benchmark holds 1.5 s
    imported = imported_modules(result.stderr)
    assert {"PySide6", "qasync", "chimera_engine", "app"} <= imported
    assert imported.isdisjoint(HEAVY_MODULES), imported & set(HEAVY_MODULES)
    assert (tmp_path / "data" / "chimera.sqlite3").exists(), "the engine really started"


def test_engine_start_failure_exits_1_in_probe_mode(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    result = console("--data-dir", str(not_a_dir), "--startup-probe")
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"the engine could not start: cannot create data directory {not_a_dir}" in (
        result.stderr
    )


def test_console_refuses_a_data_dir_another_engine_serves(tmp_path: Path) -> None:
    from chimera_engine.store.datadir_lock import acquire_datadir_lock

    data = tmp_path / "data"
    data.mkdir()
    lock = acquire_datadir_lock(data, api="http://127.0.0.1:9")  # as `chimera serve` would
    try:
        result = console("--data-dir", str(data), "--startup-probe")
    finally:
        lock.release()
    assert result.returncode == 1 and result.stdout == ""
    assert (
        f"the engine could not start: an engine (pid {os.getpid()} at http://127.0.0.1:9) "
        "serves this data dir" in result.stderr
    )


@pytest.mark.asyncio
async def test_engine_start_failure_shows_critical_box_then_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    run = asyncio.ensure_future(run_console(make_settings(not_a_dir)))
    try:
        box = None
        for _ in range(500):  # the engine fails within milliseconds; bounded wait
            boxes = [
                w
                for w in QApplication.topLevelWidgets()
                if isinstance(w, QMessageBox) and w.objectName() == "startupErrorBox"
            ]
            if boxes:
                box = boxes[0]
                break
            await asyncio.sleep(0.01)
        assert box is not None, "a critical message box is shown"
        assert box.isVisible()
        assert box.icon() == QMessageBox.Icon.Critical
        assert box.text().startswith(f"cannot create data directory {not_a_dir}")
        assert not run.done(), "the flow waits for the operator to dismiss the box"
        box.button(QMessageBox.StandardButton.Ok).click()
        assert await asyncio.wait_for(run, 5) == 1
    finally:
        run.cancel()
    assert "the engine could not start" in capsys.readouterr().err
