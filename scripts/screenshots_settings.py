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

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from aiohttp import web
from PySide6.QtWidgets import QComboBox

from app.bridge import EngineBridge
from app.panels.settings.dialog import SettingsDialog
from app.signals import wait_signal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _startup  # a sibling of this script
from _startup import save

MODEL = "qwen2.5-coder:7b"


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
    settings = _startup.engine_settings(
        root / "data",
        env={"CHIMERA_API__ENABLED": "false", "CHIMERA_SWARM__ENABLED": "false"},
        config_path=config,
    )
    async with _startup.running_engine(settings) as node:
        await _startup.first_admin(node, "dana")
        async with _startup.console_bridge(node, "dana") as bridge:
            await shoot(bridge, out)


async def shoot(bridge: EngineBridge, out: Path) -> None:
    dialog: SettingsDialog | None = None
    try:
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


def main(argv: list[str] | None = None) -> int:
    args, out = _startup.shot_arguments(__doc__, argv)
    _startup.run_console(
        lambda tmp: capture(out, tmp), theme=args.theme, prefix="chimera-settings-"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
