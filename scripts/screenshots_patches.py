"""The Patch review part of ``scripts/screenshots.py``: scripted answers and a review.

The file holds two scripted answers (written here, by hand, not by a model) for
the demo workspace's ``log_parser``
(which counts ``error`` lines as unparsed because it only knows upper-case
levels): a weak fix, rejected from the panel with a reason, and a proper one,
generated again from the panel, tested in the sandbox and left for review.
"""

from __future__ import annotations

import difflib
import json
import shutil
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from app.panels.patches.detail import SANDBOX_TAB, SIDE_TAB
from app.panels.patches.patch_dialog import ReasonDialog, RequestPatchDialog
from app.panels.patches.view import PatchesPanel

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _startup  # a sibling of this script

if TYPE_CHECKING:
    from chimera_engine.config import Settings

MODULE = "log_parser"
PATH = f"tools/{MODULE}.py"
TIMEOUT_S = 30.0

WEAK_RATIONALE = (
    "Log lines whose level is not upper case (`error`, `Warning`) do not match the "
    "line pattern and are counted as unparsed. Matching the pattern case-insensitively "
    "makes them parse."
)
WEAK_TEST = """from __future__ import annotations

from tools.log_parser import parse_log


def test_mixed_case_levels_parse() -> None:
    log = "2026-11-24 10:00:00 error db: down\\n2026-11-24 10:00:01 Warning app: slow\\n"
    assert parse_log(log)["unparsed"] == 0
"""
FIX_RATIONALE = (
    "Levels written in lower or mixed case (`error`, `Warning`) are not matched by "
    "`[A-Z]+`, so those lines are counted as unparsed and their errors never reach "
    "`top_errors`. Accept any letters and normalise the level to upper case, so "
    "`error` and `ERROR` are counted as one level."
)
FIX_TEST = '''from __future__ import annotations

from tools.log_parser import parse_log

LOG = """2026-11-24 10:00:00 error db: connection refused
2026-11-24 10:00:01 Warning app: slow request
2026-11-24 10:00:02 ERROR db: connection refused
"""


def test_levels_are_case_insensitive() -> None:
    result = parse_log(LOG, top=1)
    assert result["levels"] == {"ERROR": 2, "WARNING": 1}
    assert result["top_errors"] == ["db: connection refused"]
    assert result["unparsed"] == 0
'''
REJECTION = (
    "Counts 'error' and 'ERROR' as two different levels; normalise the level's case instead."
)


def demo_workspace(source: Path, target: Path) -> Path:
    """A copy of the demo workspace whose patches can pass the sandbox.

    The demo's ``tests/test_health_check.py`` creates httpx clients, which read the
    environment variable ``SSLKEYLOGFILE``; the sandbox reports that as a read of a
    secret (its name contains "KEY") and refuses every patch of the workspace. Until
    the engine's sandbox tells the two apart, the screenshots leave that file out.
    """
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "tests" / "test_health_check.py").unlink()
    return target


def scripted_workspace(tmp: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the demo workspace in ``tmp`` and the settings (environment) that make
    the replay provider answer patch requests for :data:`MODULE` with the scripted answers."""
    demo = _startup.REPO / "chimera_engine" / "demo" / "workspace"
    workspace = demo_workspace(demo, tmp / "workspace")
    transcript = tmp / "transcript.json"
    write_transcript(transcript, (workspace / "tools" / f"{MODULE}.py").read_text(encoding="utf-8"))
    env = {"CHIMERA_CODEGEN__PROVIDER": "replay", "CHIMERA_CODEGEN__TRANSCRIPT": str(transcript)}
    return workspace, env


def demo_settings(tmp: Path) -> Settings:
    """An engine on a copy of the demo workspace in ``tmp``: the demo workload on from
    the start, its first fault after 6 s, the API on a free port, and patches from the
    scripted answers for :data:`MODULE` (what the screenshot scripts show)."""
    workspace, scripted = scripted_workspace(tmp)
    env = {
        **scripted,
        "CHIMERA_DEMO__ENABLED": "true",
        "CHIMERA_DEMO__START_DELAY": "0",
        "CHIMERA_DEMO__FIRST_FAULT": "6",
    }
    return _startup.engine_settings(tmp / "data", env=env, workspace=workspace)


def _answer(rationale: str, source: str, patched: str, test_path: str, test: str) -> str:
    diff = "".join(
        difflib.unified_diff(
            source.splitlines(keepends=True),
            patched.splitlines(keepends=True),
            fromfile=f"a/{PATH}",
            tofile=f"b/{PATH}",
        )
    )
    return f"{rationale}\n\n```diff\n{diff}```\n\n```python\n# file: {test_path}\n{test}```\n"


def write_transcript(path: Path, source: str) -> None:
    """Two scripted answers for ``log_parser``'s ``source``; the panel labels them SCRIPTED.

    No model wrote them, so they carry no model name and no token counts.
    """
    weak = source.replace(r'(?P<msg>.*)$"' + "\n)", r'(?P<msg>.*)$",' + "\n    re.IGNORECASE,\n)")
    fixed = source.replace(r"(?P<level>[A-Z]+)", r"(?P<level>[A-Za-z]+)").replace(
        'level = match["level"]', 'level = match["level"].upper()'
    )
    if weak == source or fixed == source:
        raise RuntimeError(f"{PATH} changed: update the scripted answers")
    exchanges = [
        {
            "response": _answer(
                WEAK_RATIONALE, source, weak, "tests/test_log_parser_case.py", WEAK_TEST
            ),
        },
        {
            "response": _answer(
                FIX_RATIONALE, source, fixed, "tests/test_log_parser_levels.py", FIX_TEST
            ),
        },
    ]
    data = {"provider": "replay", "model": "screenshot-scripted", "exchanges": exchanges}
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


_wait = partial(_startup.wait, timeout=TIMEOUT_S)
_until = partial(_startup.until, timeout=TIMEOUT_S, step=0.02)


async def review(panel: PatchesPanel) -> None:
    """Generate, reject with a reason, re-generate and open the new patch's sandbox tab."""
    bar = panel.action_bar
    bar.request_button.click()
    await _until(lambda: isinstance(panel.dialog, RequestPatchDialog))
    request = panel.dialog
    assert isinstance(request, RequestPatchDialog)
    request.module_combo.setCurrentIndex(request.module_combo.findData(MODULE))
    request.note_edit.setPlainText("lower-case levels are reported as unparsed lines")
    request.submit_button.click()
    await _wait(panel.actionFinished)
    await _until(lambda: panel.selected_patch() is not None and panel.detail.patch is not None)

    bar.reject_button.click()
    dialog = panel.dialog
    assert isinstance(dialog, ReasonDialog)
    dialog.reason_edit.setPlainText(REJECTION)
    dialog.submit_button.click()
    await _wait(panel.actionFinished)

    bar.regenerate_button.click()
    again = panel.dialog
    assert isinstance(again, RequestPatchDialog)
    again.submit_button.click()
    await _wait(panel.actionFinished)
    await _until(lambda: panel.model.rowCount() == 2 and not panel.banner.isVisible())
    newest = panel.model.record(0)
    panel.select_patch(newest.id)
    await _until(
        lambda: (
            panel.detail.patch is not None
            and panel.detail.patch.id == newest.id
            and bool(panel.detail.side_by_side.kinds)
        )
    )


def show_sandbox(panel: PatchesPanel) -> None:
    """The sandbox tab, with the output of the new test failing on the unpatched code."""
    panel.detail.tabs.setCurrentIndex(SANDBOX_TAB)
    sandbox = panel.detail.sandbox
    rows = [row[0] for row in sandbox.model.texts()]
    sandbox.select_test(rows.index("before") if "before" in rows else 0)


def show_diff(panel: PatchesPanel) -> None:
    panel.detail.tabs.setCurrentIndex(SIDE_TAB)
