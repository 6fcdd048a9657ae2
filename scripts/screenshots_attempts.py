"""Render failed generation attempts in the Patches panel and Test connection's messages.

Nothing here is staged in the console: a real engine (a small workspace whose
``ratio`` tool divides by zero) asks a real model server process on loopback
(``tests/patches/llm_server.py``, an OpenAI-compatible and Ollama-like
server that can be told to misbehave) for fixes. It answers junk, then a fix,
is cut off by its 2,048-token context, fails with HTTP 500, answers with an
HTML page, and is asked with the wrong API kind: every attempt is kept and the
panel shows what the engine recorded. Then the Settings dialog's *Test
connection* is pressed against an HTML page, a server of another API kind, an
unknown model, a server that reports no token usage, and the scripted answers.
Captures

* ``patches_attempts.png``: the Attempts tab (failed attempts) with the cut-off one open,
* ``patches_why.png``: the queue with the patch that passed and why it was requested,
* ``settings_test_<case>.png``: the LLM provider tab after each test.

Usage: ``python scripts/screenshots_attempts.py [--out docs/screenshots]``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QComboBox, QLineEdit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import _startup  # noqa: E402  # a sibling of this script
from _startup import PASSWORD, save  # noqa: E402

from app.bridge import EngineBridge  # noqa: E402
from app.panels.patches.view import PatchesPanel  # noqa: E402
from app.panels.settings.dialog import SettingsDialog  # noqa: E402
from app.signals import wait_signal  # noqa: E402
from chimera_engine.node import HeartNode  # noqa: E402
from chimera_engine.patches.generator import GenerationPolicy  # noqa: E402
from chimera_engine.patches.providers.local_provider import LocalLLMProvider  # noqa: E402
from chimera_engine.patches.providers.retry import RetryPolicy  # noqa: E402
from chimera_engine.runtime import ToolCallError  # noqa: E402
from tests.patches.conftest_helpers import FIX, make_workspace  # noqa: E402

SERVER = REPO / "tests" / "engine" / "codegen" / "llm_server.py"
TIMEOUT_S = 60.0
JUNK = "Division by zero happens when b is 0. You could add a check before dividing."
LONG = "The fix needs a careful explanation first. " * 400


@asynccontextmanager
async def model_server(tmp: Path, answers: list[str]) -> AsyncIterator[str]:
    file = tmp / "answers.json"
    file.write_text(json.dumps(answers))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SERVER), "--answers", str(file), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        await proc.wait()


until = partial(_startup.until, timeout=TIMEOUT_S)


async def make_attempts(node: HeartNode, url: str) -> None:
    """Real requests against the model server: junk then a fix, a cut-off answer, a 500,
    an HTML page and the wrong API kind."""
    admin = (await _startup.sign_in(node, "admin")).principal
    for _ in range(3):
        with suppress(ToolCallError):
            await node.runtime.call("ratio", {"a": 1, "b": 0}, admin)
    once = RetryPolicy(max_attempts=1)
    cases = [
        (f"{url}/ok", "openai", 3, "division errors seen by the on-call operator"),
        (f"{url}/e500", "openai", 1, ""),
        (f"{url}/small", "openai", 2, ""),
        (f"{url}/html", "openai", 1, ""),
        (f"{url}/ok", "ollama", 1, ""),
    ]
    for base, api, attempts, note in cases:
        provider = LocalLLMProvider(base, "tiny-135m", api=api, retry=once)  # type: ignore[arg-type]
        node.use_provider(provider, GenerationPolicy(max_attempts=attempts))
        outcome = await node.facade.patches.request_patch(admin, "mathy", note=note)
        print(f"{base} ({api}): ok={outcome.report.ok} {outcome.report.reasons}")
        await provider.aclose()
    node.use_provider(None)


async def capture_panel(bridge: EngineBridge, out: Path) -> None:
    panel = PatchesPanel(bridge)
    panel.resize(1280, 760)
    panel.show()
    await wait_signal(panel.loaded)
    panel.show_attempts()
    view = panel.attempts
    await until(lambda: view.model.rowCount() >= 6)
    for row in range(view.model.rowCount()):
        if view.model.record(row).verdict == "truncated":
            view.table.selectRow(view.proxy.mapFromSource(view.model.index(row, 0)).row())
            break
    await asyncio.sleep(0.3)
    save(panel, out / "patches_attempts.png")
    panel.tabs.setCurrentIndex(0)
    await until(lambda: panel.model.rowCount() >= 1)
    panel.select_patch(panel.model.record(0).id)
    await until(lambda: panel.why_label.text() != "" and panel.detail.patch is not None)
    await asyncio.sleep(0.3)
    save(panel, out / "patches_why.png")
    panel.close()


def _set(dialog: SettingsDialog, key: str, value: str) -> None:
    editor = dialog.editor(key)
    if isinstance(editor, QComboBox):
        editor.setCurrentIndex(editor.findData(value))
    elif isinstance(editor, QLineEdit):
        editor.setText(value)
    else:
        editor.setText(value)  # type: ignore[attr-defined]


async def capture_tests(bridge: EngineBridge, url: str, out: Path) -> None:
    dialog = SettingsDialog(bridge)
    dialog.resize(900, 760)
    dialog.open()
    if dialog._view is None:
        await wait_signal(dialog.loaded)
    for index in range(dialog.tabs.count()):
        if "LLM" in dialog.tabs.tabText(index):
            dialog.tabs.setCurrentIndex(index)
    cases = [
        ("html", "openai-compatible", f"{url}/html", "tiny-135m"),
        ("wrong_api", "ollama", f"{url}/ok", "tiny-135m"),
        ("unknown_model", "openai-compatible", f"{url}/unknownmodel", "tiny-7b"),
        ("no_usage", "openai-compatible", f"{url}/nousage", "tiny-135m"),
        ("scripted", "replay", "", ""),
    ]
    for name, kind, base, model in cases:
        _set(dialog, "codegen.provider", kind)
        if kind != "replay":
            _set(dialog, "codegen.base_url", base)
            _set(dialog, "codegen.model", model)
        dialog.provider.test_button.click()
        (report,) = await wait_signal(dialog.provider.testFinished)
        print(f"{name}: {report.kind}: {report.message}")
        await asyncio.sleep(0.2)
        save(dialog, out / f"settings_test_{name}.png")
    dialog.close()


async def capture(out: Path, tmp: Path) -> None:
    workspace = make_workspace(tmp / "ws")
    env = {"CHIMERA_TOOLS__WATCH": "false", "CHIMERA_API__ENABLED": "false"}
    config = tmp / "chimera.toml"
    config.write_text('[codegen]\nprovider = "replay"\n')
    settings = _startup.engine_settings(
        tmp / "data", env=env, workspace=workspace, config_path=config
    )
    async with _startup.running_engine(settings) as node, _startup.console_bridge(node) as bridge:
        await _startup.first_admin(node)
        async with model_server(tmp, [JUNK, FIX, LONG]) as url:
            await make_attempts(node, url)
            await bridge.login("admin", PASSWORD)
            await capture_panel(bridge, out)
            await capture_tests(bridge, url, out)
        await bridge.logout()


def main(argv: list[str] | None = None) -> int:
    _, out = _startup.shot_arguments(__doc__, argv, theme=False)
    _startup.run_console(lambda tmp: capture(out, tmp), prefix="chimera-attempts-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
