"""``chimera tools``: the workspace's tools and their versions."""

from __future__ import annotations

import argparse
import json
import sys

from chimera_engine.cli.common import Subparsers, fmt_ts, local_principal
from chimera_engine.errors import ChimeraError
from chimera_engine.modules.models import ReloadResult
from chimera_engine.node import HeartNode


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    tools = sub.add_parser("tools", parents=[common], help="workspace tools and their versions")
    tools_sub = tools.add_subparsers(dest="tools_command", required=True, metavar="ACTION")
    p = tools_sub.add_parser("list", parents=[common], help="active tools and their versions")
    p.set_defaults(handler=tools_list, needs_node=True)
    p = tools_sub.add_parser("versions", parents=[common], help="version history of a tool/module")
    p.add_argument("name", help="tool or module name")
    p.set_defaults(handler=tools_versions, needs_node=True)
    p = tools_sub.add_parser("activate", parents=[common], help="make a version active")
    p.add_argument("name", help="tool or module name")
    p.add_argument("version", type=int)
    p.set_defaults(handler=tools_activate, needs_node=True)
    p = tools_sub.add_parser("rollback", parents=[common], help="back to the previous good version")
    p.add_argument("name", help="tool or module name")
    p.set_defaults(handler=tools_rollback, needs_node=True)
    p = tools_sub.add_parser(
        "reload", parents=[common], help="load a module's file as a new version"
    )
    p.add_argument("module")
    p.add_argument("--force", action="store_true", help="accept a signature change")
    p.set_defaults(handler=tools_reload, needs_node=True)
    for action in ("deprecate", "retire"):
        p = tools_sub.add_parser(action, parents=[common], help=f"{action} a version")
        p.add_argument("name", help="tool or module name")
        p.add_argument("version", type=int)
        p.set_defaults(handler=tools_set_state, needs_node=True, state=f"{action.rstrip('e')}ed")
    p = tools_sub.add_parser(
        "deleted", parents=[common], help="settle a module whose file was deleted"
    )
    p.add_argument("module")
    p.add_argument("decision", choices=("remove", "restore"))
    p.set_defaults(handler=tools_deleted, needs_node=True)
    p = tools_sub.add_parser("call", parents=[common], help="call a tool and print its result")
    p.add_argument("name")
    p.add_argument(
        "--args", default="{}", help='arguments as a JSON object, e.g. \'{"text": "a,b"}\''
    )
    p.add_argument("--version", dest="tool_version", type=int, help="call this version")
    p.set_defaults(handler=tools_call, needs_node=True)


def print_result(result: ReloadResult) -> int:
    if result.ok:
        extra = f" (also rebuilt: {', '.join(result.dependants)})" if result.dependants else ""
        same = " (unchanged)" if result.unchanged else ""
        print(f"{result.module}: v{result.version} active{same}{extra}")
        return 0
    print(f"{result.module}: refused at {result.stage}: {result.reason}", file=sys.stderr)
    return 1


async def tools_list(node: HeartNode, args: argparse.Namespace) -> int:
    tools = await node.facade.modules.list_tools(local_principal())
    print(f"{'TOOL':<20} {'MODULE':<18} {'VER':>4} {'CALLS':>7} {'ERRORS':>6}  SIGNATURE")
    for t in tools:
        print(
            f"{t.name:<20} {t.module:<18} {t.version:>4} {t.calls:>7} {t.errors:>6}  {t.signature}"
        )
    for problem in node.status().startup_problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


async def tools_versions(node: HeartNode, args: argparse.Namespace) -> int:
    versions = await node.facade.modules.module_versions(local_principal(), args.name)
    print(
        f"{'VER':>4} {'STATE':<10} {'ORIGIN':<11} {'CREATED':<19} {'HASH':<12} {'SERVED':<9} NOTE"
    )
    for v in versions:
        mark = "*" if v.active else " "
        note = v.error or (f"from v{v.parent}" if v.parent else "")
        if v.verdict and v.verdict != "good":
            note = f"{note}; {v.verdict}" if note else v.verdict
        served = v.verdict.split(":", 1)[0] or "-"
        print(
            f"{v.version:>3}{mark} {v.state:<10} {v.origin:<11} {fmt_ts(v.created_at):<19} "
            f"{v.content_hash[:12]:<12} {served:<9} {note}"
        )
    module = versions[0].module if versions else args.name
    for entry in node.reload.describe_deletions(module):
        print(
            f"     file deleted {fmt_ts(entry['seen_at'])} while v{entry['serving_version']} "
            f"served: {entry['state']}"
            + (f" by {entry['decided_by']}" if entry["decided_by"] else "")
        )
    return 0


async def tools_deleted(node: HeartNode, args: argparse.Namespace) -> int:
    state = await node.facade.modules.decide_deletion(local_principal(), args.module, args.decision)
    print(f"{args.module}: {state}")
    return 0


async def tools_activate(node: HeartNode, args: argparse.Namespace) -> int:
    result = await node.facade.modules.activate_version(local_principal(), args.name, args.version)
    return print_result(result)


async def tools_rollback(node: HeartNode, args: argparse.Namespace) -> int:
    return print_result(await node.facade.modules.rollback_module(local_principal(), args.name))


async def tools_reload(node: HeartNode, args: argparse.Namespace) -> int:
    result = await node.facade.modules.reload_module(
        local_principal(), args.module, force=args.force
    )
    return print_result(result)


async def tools_set_state(node: HeartNode, args: argparse.Namespace) -> int:
    info = await node.facade.modules.set_version_state(
        local_principal(), args.name, args.version, args.state
    )
    print(f"{info.module} v{info.version} is now {info.state}")
    return 0


async def tools_call(node: HeartNode, args: argparse.Namespace) -> int:
    try:
        call_args = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise ChimeraError(f"--args is not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(call_args, dict):
        raise ChimeraError("--args must be a JSON object")
    result = await node.facade.modules.call_tool(
        local_principal(), args.name, call_args, version=args.tool_version
    )
    print(json.dumps(result, indent=2, default=str))
    return 0
