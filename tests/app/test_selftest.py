"""``chimera-console --self-test`` as a real subprocess: the engine, the dialogs, every panel."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_self_test(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CHIMERA_CONFIG": os.devnull}
    return subprocess.run(
        [sys.executable, "-m", "app.main", "--self-test", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=90,
    )


def test_self_test_passes_on_a_fresh_then_an_existing_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = run_self_test("--data-dir", str(data))
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert "self-test: ok first administrator dialog" in "\n".join(lines)
    for panel in ("Dashboard", "Modules", "Patches", "Audit", "Admin"):
        assert any(line.startswith(f"self-test: ok panel {panel} ") for line in lines), panel
    assert any(line.startswith("self-test: ok loop lag") for line in lines)
    assert any(line.startswith("self-test: ok themes and icons") for line in lines)
    assert lines[-1].startswith("self-test passed")

    # The data directory now has an administrator: a temporary one signs in instead,
    # and is disabled again at the end.
    second = run_self_test("--data-dir", str(data))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "self-test: ok sign-in dialog" in second.stdout
    assert "self-test: ok disable the temporary administrator" in second.stdout


def test_self_test_reports_what_failed(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be", encoding="utf-8")
    result = run_self_test("--data-dir", str(blocker))
    assert result.returncode == 1
    assert "self-test failed" in result.stdout
    assert "FAILED engine start" in result.stdout
