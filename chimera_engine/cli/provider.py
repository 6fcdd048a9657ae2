"""``chimera provider``: the LLM provider the patches come from."""

from __future__ import annotations

import argparse

from chimera_engine.cli.common import Subparsers, local_principal
from chimera_engine.node import HeartNode


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    provider = sub.add_parser("provider", parents=[common], help="the LLM provider for patches")
    provider_sub = provider.add_subparsers(dest="provider_command", required=True, metavar="ACTION")
    p = provider_sub.add_parser(
        "test",
        parents=[common],
        help="send one tiny request and say exactly what is wrong, if anything",
    )
    p.add_argument("--kind", help="try this provider kind instead of the configured one")
    p.add_argument("--model", help="try this model")
    p.add_argument("--base-url", help="try this server address")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait (default 20)")
    p.set_defaults(handler=provider_test, needs_node=True)


async def provider_test(node: HeartNode, args: argparse.Namespace) -> int:
    """Exit 0 when a live model answered, 1 when something is wrong, 3 for scripted answers."""
    changes = {
        key: value
        for key, value in (
            ("provider", args.kind),
            ("model", args.model),
            ("base_url", args.base_url),
        )
        if value
    }
    report = await node.facade.settings.test_provider(
        local_principal(), changes, timeout=args.timeout
    )
    model = f" {report.model}" if report.model else ""
    print(f"{report.provider}{model}: {report.kind}: {report.message}")
    if report.kind == "scripted":
        return 3
    return 0 if report.ok else 1
