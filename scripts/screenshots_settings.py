"""Render the Settings dialog offscreen: ``settings.png`` and ``settings_invalid.png``.

A real engine on a temporary data directory with its own settings file; an
administrator opens File > Settings…, points the LLM provider at an
OpenAI-compatible server (a small aiohttp server on loopback standing in for
llama.cpp or vLLM), and presses "Test connection": ``settings.png`` shows the
provider tab with the result. ``settings_invalid.png`` shows the Swarm tab with
the Dask backend chosen but no scheduler address: the message under the field,
the tab marked, Save disabled.

Usage: ``python scripts/screenshots_settings.py [--out docs/screenshots] [--theme dark]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from aiohttp import web
from PySide6.QtWidgets import QComboBox, QWidget

from app.dialogs.settings import SettingsDialog
from app.main import create_application
from app.signals import wait_signal
from app.startup import bridge_for
from chimera_engine.config import load_settings
from chimera_engine.node import HeartNode

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
MODEL = "qwen2.5-coder:7b"


def save(widget: QWidget, path: Path) -> None:
    if not widget.grab().save(str(path)):
        raise RuntimeError(f"could not write {path}")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


async def _chat(request: web.Request) -> web.StreamResponse:
    """A streamed chat completion as an OpenAI-compatible server sends it."""
    body = await request.json()
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}}]},
        {
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 21, "completion_tokens": 1, "total_tokens": 22},
        },
    ]
    for chunk in chunks:
        chunk.update(id="chatcmpl-1", object="chat.completion.chunk", model=body["model"])
        await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await asyncio.sleep(0.05)
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


@asynccontextmanager
async def model_server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", _chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def write_config(root: Path) -> Path:
    config = root / "config.toml"
    root.mkdir(parents=True, exist_ok=True)
    config.write_text("# CHIMERA settings\n[metrics]\nlatency_threshold_ms = 800.0\n")
    return config


async def capture(out: Path, root: Path) -> None:
    config = write_config(root)
    settings = load_settings(
        config_path=config,
        data_dir=root / "data",
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_SWARM__ENABLED": "false"},
    )
    node = HeartNode(settings)
    await node.start()
    bridge = bridge_for(node)
    dialog: SettingsDialog | None = None
    try:
        await node.facade.create_first_admin("dana", PASSWORD)
        await bridge.login("dana", PASSWORD)
        async with model_server() as url:
            dialog = SettingsDialog(bridge)
            dialog.resize(780, 640)
            dialog.open()
            await wait_signal(dialog.loaded)
            dialog.tabs.setCurrentWidget(dialog.provider)
            provider = dialog.provider
            provider.kind_combo.setCurrentIndex(provider.kind_combo.findData("openai-compatible"))
            provider.base_url_edit.setText(url)
            provider.model_edit.setText(MODEL)
            provider.test_button.click()
            await wait_signal(provider.testFinished)
            await asyncio.sleep(0.05)
            save(dialog, out / "settings.png")

            swarm = dialog.grids["swarm"]
            dialog.tabs.setCurrentWidget(swarm)
            backend = dialog.editor("swarm.backend")
            assert isinstance(backend, QComboBox)
            backend.setCurrentIndex(backend.findData("dask"))
            await asyncio.sleep(0.05)
            save(dialog, out / "settings_invalid.png")
    finally:
        if dialog is not None:
            dialog.close()
            dialog.deleteLater()
        await bridge.aclose()
        await node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    app = create_application("chimera-console", args.theme)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with tempfile.TemporaryDirectory(prefix="chimera-settings-") as tmp, loop:
            loop.run_until_complete(capture(out, Path(tmp)))
    finally:
        asyncio.set_event_loop(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
