"""Start-up shared by the screenshot scripts and the benchmarks.

An engine on a data directory of the caller's (API on an ephemeral port unless
the caller says otherwise, no user-wide config file), its first administrator,
a console bridge signed in like an operator, and the Qt application with its
qasync loop; plus the small waits and the PNG writer the screenshot scripts use.

Scripts import it as a sibling (``import _startup``); a benchmark puts this folder
on ``sys.path`` first. Qt is imported only by the functions that need it, so an
engine-only benchmark stays headless.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chimera_engine.config import Settings, load_settings
from chimera_engine.node import HeartNode

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance
    from PySide6.QtWidgets import QWidget

    from app.bridge import EngineBridge
    from app.mainwindow import MainWindow

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
T = TypeVar("T")


def engine_settings(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    workspace: Path | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Settings of a scripted engine: ``env`` as given, the API on port 0 unless it names
    one, and no config file but ``config_path``."""
    merged = {"CHIMERA_API__PORT": "0", **(env or {})}
    extra: dict[str, Any] = {"workspace": workspace} if workspace is not None else {}
    if config_path is not None:
        return load_settings(data_dir=data_dir, env=merged, config_path=config_path, **extra)
    return load_settings(data_dir=data_dir, env=merged, use_default_file=False, **extra)


def temp_data_dir(prefix: str) -> Path:
    """A fresh data directory left behind for inspection (benchmarks print from it)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


@asynccontextmanager
async def running_engine(settings: Settings) -> AsyncIterator[HeartNode]:
    """A started engine, stopped on the way out."""
    node = HeartNode(settings)
    await node.start()
    try:
        yield node
    finally:
        await node.stop()


@asynccontextmanager
async def engine_with_admin(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    workspace: Path | None = None,
    name: str = "admin",
) -> AsyncIterator[tuple[HeartNode, Any]]:
    """A started engine on ``data_dir`` and its first administrator's session (what most
    benchmarks begin with)."""
    async with running_engine(engine_settings(data_dir, env=env, workspace=workspace)) as node:
        yield node, await first_admin(node, name)


async def first_admin(node: HeartNode, name: str = "admin", password: str = PASSWORD) -> Any:
    """Create the first administrator; the signed-in session."""
    return await node.facade.sessions.create_first_admin(name, password)


async def sign_in(node: HeartNode, name: str, password: str = PASSWORD) -> Any:
    """A session of ``name`` straight from the engine (no console)."""
    return await node.facade.sessions.login(name, password)


def new_bridge(node: HeartNode) -> EngineBridge:
    """The console's bridge to ``node``: the one place the scripts and benchmarks build one."""
    from app.startup import bridge_for

    return bridge_for(node)


@asynccontextmanager
async def console_bridge(
    node: HeartNode, user: str | None = None, password: str = PASSWORD
) -> AsyncIterator[EngineBridge]:
    """The console's bridge to ``node``, signed in as ``user`` when one is named (else
    the caller signs in through a dialog or the bridge), closed on the way out."""
    bridge = new_bridge(node)
    try:
        if user is not None:
            await bridge.login(user, password)
        yield bridge
    finally:
        await bridge.aclose()


def run_console(
    body: Callable[[Path], Awaitable[T]], *, theme: str = "light", prefix: str = "chimera-shots-"
) -> T:
    """Run ``body(tmp)`` on the console's qasync loop (offscreen unless
    ``QT_QPA_PLATFORM`` says otherwise), ``tmp`` a directory removed afterwards."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync

    from app.main import create_application

    app = create_application("chimera-console", theme)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp, loop:
            return loop.run_until_complete(body(Path(tmp)))
    finally:
        asyncio.set_event_loop(None)


async def until(
    predicate: Callable[[], object], *, timeout: float = 10.0, step: float = 0.05
) -> None:
    """Poll ``predicate`` (widget state) on the loop; TimeoutError after ``timeout``."""
    for _ in range(int(timeout / step)):
        if predicate():
            return
        await asyncio.sleep(step)
    raise TimeoutError("the console did not reach the expected state")


async def wait(signal: SignalInstance, timeout: float = 10.0) -> tuple[object, ...]:
    """The arguments of the next emission of ``signal``."""
    from app.signals import wait_signal

    async with asyncio.timeout(timeout):
        return await wait_signal(signal)


async def settled_lag(bridge: EngineBridge, samples: int = 5) -> None:
    """Wait for a real loop-lag sample, preferably one taken after the burst of work."""
    for _ in range(samples):
        (p99,) = await wait(bridge.loopLag)
        if isinstance(p99, float) and p99 < 16.0:
            return


def save(widget: QWidget, path: Path) -> None:
    """Write ``widget`` as a PNG and say where."""
    if not widget.grab().save(str(path)):
        raise RuntimeError(f"could not write {path}")
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", flush=True)


@contextmanager
def main_window(bridge: EngineBridge) -> Iterator[MainWindow]:
    """The console's main window over ``bridge`` (not shown yet), closed on the way out."""
    from app.controller import ConsoleController

    window = ConsoleController(bridge).build_main_window()
    try:
        yield window
    finally:
        window.close_quietly()
        window.deleteLater()


def shot_arguments(
    description: str | None,
    argv: list[str] | None,
    *,
    theme: bool = True,
    extend: Callable[[argparse.ArgumentParser], object] | None = None,
) -> tuple[argparse.Namespace, Path]:
    """A screenshot script's arguments (``--out``, ``--theme`` and what ``extend`` adds)
    and its output folder, created."""
    parser = argparse.ArgumentParser(description=(description or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    if theme:
        parser.add_argument("--theme", choices=("light", "dark"), default="light")
    if extend is not None:
        extend(parser)
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    return args, out
