"""``chimera patch test FILE`` and the queue commands, as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest_helpers import FIX, make_workspace


def chimera(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chimera_engine", *args], capture_output=True, text=True, timeout=120
    )


def test_patch_test_prints_json_result(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    common = ["--data-dir", str(tmp_path / "data"), "--workspace", str(workspace)]
    good = tmp_path / "fix.patch.md"
    good.write_text(FIX)
    done = chimera("patch", "test", str(good), "--module", "mathy", *common)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["fail_to_pass"][0]["outcome"] == "passed"
    assert "if b == 0" not in (workspace / "tools" / "mathy.py").read_text()  # nothing applied

    weak = tmp_path / "weak.patch.md"
    weak.write_text(FIX.replace("assert ratio(1, 0) == 0.0", "assert ratio(4, 2) == 2"))
    refused = chimera("patch", "test", str(weak), "--module", "mathy", *common)
    assert refused.returncode == 1
    assert "prove nothing" in json.loads(refused.stdout)["reason"]

    bad = tmp_path / "bad.md"
    bad.write_text("Happy to help! Could you share more details?")
    malformed = chimera("patch", "test", str(bad), "--module", "mathy", *common)
    assert malformed.returncode == 2 and "contains no patch" in malformed.stderr
    listed = chimera("patch", "list", *common)
    assert listed.returncode == 0 and "no patches" in listed.stdout
    tail = chimera("audit", "tail", "--action", "patch.", *common)
    assert tail.stdout.count("patch.test") == 2
