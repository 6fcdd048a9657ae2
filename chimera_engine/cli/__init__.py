"""The ``chimera`` command: the headless engine and its administration.

``--data-dir``, ``--config`` and ``--workspace`` are accepted by every command,
before or after the command name. Commands act as the owner of the data
directory (audited as ``local:<os user>``); passwords are read from a prompt or
standard input, never from the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from chimera_engine import __version__
from chimera_engine.cli import audit, detect, keys, patches, provider, swarm, tools, users
from chimera_engine.config import Settings, load_settings
from chimera_engine.errors import ChimeraError
from chimera_engine.node import HeartNode
from chimera_engine.store.datadir_lock import LockHolder, read_server, refuse_if_served


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--data-dir", type=Path, default=default, help="data directory")
    parser.add_argument("--config", type=Path, default=default, help="config file (TOML)")
    parser.add_argument("--workspace", type=Path, default=default, help="workspace folder")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    parser = argparse.ArgumentParser(prog="chimera", description=__doc__.splitlines()[0])
    _global_options(parser, suppress=False)
    parser.add_argument("--version", action="version", version=f"chimera {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the engine headless")
    serve.add_argument("--host", help="API bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="API port (default 8765)")
    serve.set_defaults(handler=_serve, needs_node=False)

    status = sub.add_parser("status", parents=[common], help="print the engine's health as JSON")
    status.set_defaults(handler=_status, needs_node=True)

    for module in (users, keys, tools, patches, provider, swarm, audit, detect):
        module.register(sub, common)
    return parser


async def _status(node: HeartNode, args: argparse.Namespace) -> int:
    print(json.dumps(asdict(node.status()), indent=2, sort_keys=True))
    return 0


async def _serve(settings: Settings, args: argparse.Namespace) -> int:
    api = replace(
        settings.api,
        enabled=True,
        host=args.host or settings.api.host,
        port=args.port if args.port is not None else settings.api.port,
    )
    node = HeartNode(replace(settings, api=api))
    await node.start()
    if node.api_error:
        await node.stop()
        raise ChimeraError(node.api_error)
    runner = asyncio.ensure_future(node.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, runner.cancel)
    logging.getLogger("chimera").info("engine serving; data in %s", settings.data_dir)
    api_url = node.api.url if node.api else ""
    print(
        f"chimera engine running: API {api_url}, data dir {settings.data_dir}; Ctrl+C stops it",
        flush=True,
    )
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    print("chimera engine stopped", flush=True)
    return 0


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    if not args.needs_node:
        served: int = await args.handler(settings, args)
        return served
    if args.needs_node == "accounts":
        # accounts, keys and the audit log are shared through the database: these
        # commands run beside a serving engine, which sees their changes within a second
        async with HeartNode(settings, accounts_only=True) as accounts:
            done: int = await args.handler(accounts, args)
            return done
    # a full engine writes version state: never beside the engine that serves the data dir
    holder = read_server(settings.data_dir)
    if holder is not None and args.command == "status":
        return await _status_of_server(holder)
    refuse_if_served(
        settings.data_dir,
        f"use the console or its HTTP API for `{_command_name(args)}`, or stop it first",
    )
    # one-shot commands neither watch files nor keep anything running, and never take
    # over the unfinished tasks of the engine that serves the data dir
    swarm_on = settings.swarm.enabled and args.command in ("swarm", "status")
    settings = replace(
        settings,
        tools=replace(settings.tools, watch=False),
        api=replace(settings.api, enabled=False),
        demo=replace(settings.demo, enabled=False),
        swarm=replace(settings.swarm, enabled=swarm_on, resume=False),
    )
    async with HeartNode(settings) as node:
        result: int = await args.handler(node, args)
        return result


async def _status_of_server(holder: LockHolder) -> int:
    """``chimera status`` beside a serving engine: who serves, and its /healthz answer."""
    import httpx

    report: dict[str, Any] = {"served_by": asdict(holder), "state": "unknown"}
    if holder.api:
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                reply = await client.get(f"{holder.api}/healthz")
            report["state"] = reply.json().get("status", "unknown")
        except (httpx.HTTPError, ValueError) as exc:
            report["api_error"] = str(exc) or type(exc).__name__
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


def _command_name(args: argparse.Namespace) -> str:
    words = [str(args.command)]
    for key, value in sorted(vars(args).items()):
        if key.endswith("_command") and isinstance(value, str):
            words.append(value)
    return "chimera " + " ".join(words)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(
            config_path=args.config, data_dir=args.data_dir, workspace=args.workspace
        )
        return asyncio.run(_run(settings, args))
    except ChimeraError as exc:
        print(f"chimera: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
