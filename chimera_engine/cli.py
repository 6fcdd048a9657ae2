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
import getpass
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from chimera_engine import __version__
from chimera_engine.codegen.models import PatchState
from chimera_engine.config import Settings, load_settings
from chimera_engine.errors import ChimeraError
from chimera_engine.node import HeartNode
from chimera_engine.reload.models import ReloadResult
from chimera_engine.security.permissions import Role
from chimera_engine.security.principal import Principal
from chimera_engine.store.audit import AuditQuery

Handler = Callable[[HeartNode, argparse.Namespace], Awaitable[int]]


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

    user = sub.add_parser("user", parents=[common], help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", parents=[common], help="create a user")
    add.add_argument("name")
    add.add_argument("--role", default=Role.OPERATOR.value, choices=[r.value for r in Role])
    add.set_defaults(handler=_user_add, needs_node=True)
    lst = user_sub.add_parser("list", parents=[common], help="list users")
    lst.set_defaults(handler=_user_list, needs_node=True)
    for action, help_text in (("disable", "disable a user"), ("enable", "enable a user")):
        p = user_sub.add_parser(action, parents=[common], help=help_text)
        p.add_argument("name")
        p.set_defaults(handler=_user_disable, needs_node=True, disabled=action == "disable")
    pw = user_sub.add_parser("passwd", parents=[common], help="set a user's password")
    pw.add_argument("name")
    pw.set_defaults(handler=_user_passwd, needs_node=True)

    tools = sub.add_parser("tools", parents=[common], help="workspace tools and their versions")
    tools_sub = tools.add_subparsers(dest="tools_command", required=True, metavar="ACTION")
    p = tools_sub.add_parser("list", parents=[common], help="active tools and their versions")
    p.set_defaults(handler=_tools_list, needs_node=True)
    p = tools_sub.add_parser("versions", parents=[common], help="version history of a tool/module")
    p.add_argument("name", help="tool or module name")
    p.set_defaults(handler=_tools_versions, needs_node=True)
    p = tools_sub.add_parser("activate", parents=[common], help="make a version active")
    p.add_argument("name", help="tool or module name")
    p.add_argument("version", type=int)
    p.set_defaults(handler=_tools_activate, needs_node=True)
    p = tools_sub.add_parser("rollback", parents=[common], help="back to the previous good version")
    p.add_argument("name", help="tool or module name")
    p.set_defaults(handler=_tools_rollback, needs_node=True)
    p = tools_sub.add_parser(
        "reload", parents=[common], help="load a module's file as a new version"
    )
    p.add_argument("module")
    p.add_argument("--force", action="store_true", help="accept a signature change")
    p.set_defaults(handler=_tools_reload, needs_node=True)
    for action in ("deprecate", "retire"):
        p = tools_sub.add_parser(action, parents=[common], help=f"{action} a version")
        p.add_argument("name", help="tool or module name")
        p.add_argument("version", type=int)
        p.set_defaults(handler=_tools_set_state, needs_node=True, state=f"{action.rstrip('e')}ed")
    p = tools_sub.add_parser("call", parents=[common], help="call a tool and print its result")
    p.add_argument("name")
    p.add_argument(
        "--args", default="{}", help='arguments as a JSON object, e.g. \'{"text": "a,b"}\''
    )
    p.add_argument("--version", dest="tool_version", type=int, help="call this version")
    p.set_defaults(handler=_tools_call, needs_node=True)

    patch = sub.add_parser("patch", parents=[common], help="LLM patches and their review")
    patch_sub = patch.add_subparsers(dest="patch_command", required=True, metavar="ACTION")
    p = patch_sub.add_parser("list", parents=[common], help="the review queue")
    p.add_argument("--state", action="append", default=[], help="only these states")
    p.set_defaults(handler=_patch_list, needs_node=True)
    p = patch_sub.add_parser("show", parents=[common], help="a patch: diff, tests, results")
    p.add_argument("id", type=int)
    p.set_defaults(handler=_patch_show, needs_node=True)
    p = patch_sub.add_parser("test", parents=[common], help="sandbox-test a patch file (JSON out)")
    p.add_argument("file", type=Path, help="a patch in answer format (diff + new tests)")
    p.add_argument("--module", required=True, help="the tool module it changes")
    p.set_defaults(handler=_patch_test, needs_node=True)
    p = patch_sub.add_parser("request", parents=[common], help="ask the provider for a fix")
    p.add_argument("module")
    p.add_argument("--note", default="", help="what the operator saw")
    p.set_defaults(handler=_patch_request, needs_node=True)
    p = patch_sub.add_parser("approve", parents=[common], help="approve and apply a ready patch")
    p.add_argument("id", type=int)
    p.set_defaults(handler=_patch_approve, needs_node=True)
    for action in ("reject", "rollback"):
        p = patch_sub.add_parser(action, parents=[common], help=f"{action} a patch")
        p.add_argument("id", type=int)
        p.add_argument("--reason", required=action == "reject", default="", help="why")
        p.set_defaults(handler=_patch_decide, needs_node=True, action=action)

    audit = sub.add_parser("audit", parents=[common], help="read and verify the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", parents=[common], help="check the hash chain")
    verify.set_defaults(handler=_audit_verify, needs_node=True)
    tail = audit_sub.add_parser("tail", parents=[common], help="print the newest entries")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")
    tail.add_argument("--action", default="", help="only actions starting with this")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.set_defaults(handler=_audit_tail, needs_node=True)
    return parser


def _local_principal() -> Principal:
    return Principal.local(getpass.getuser())


def read_new_password(prompt: str = "Password: ") -> str:
    """A password from the terminal (asked twice) or the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat password: ") != first:
            raise ChimeraError("the passwords do not match")
        return first
    line = sys.stdin.readline()
    if not line:
        raise ChimeraError("no password given on standard input")
    return line.rstrip("\r\n")


async def _user_add(node: HeartNode, args: argparse.Namespace) -> int:
    password = read_new_password()
    security = node.security
    user = await security.accounts.create(args.name, password, args.role)
    security.remember(user, "created")
    await security.audit.record(
        _local_principal(), "user.create", target=user.username, role=user.role
    )
    print(f"created user {user.username} with role {user.role}")
    return 0


async def _user_list(node: HeartNode, args: argparse.Namespace) -> int:
    users = await node.security.accounts.users.list()
    if not users:
        print(
            "no users yet: create the first administrator with 'chimera user add NAME --role admin'"
        )
        return 0
    print(f"{'USER':<24} {'ROLE':<11} {'STATE':<9} LAST LOGIN")
    for u in users:
        state = "disabled" if u.disabled else ("locked" if u.locked_until else "active")
        last = _fmt_ts(u.last_login) if u.last_login else "never"
        print(f"{u.username:<24} {u.role:<11} {state:<9} {last}")
    return 0


async def _user_disable(node: HeartNode, args: argparse.Namespace) -> int:
    security = node.security
    user = await security.accounts.set_disabled(args.name, args.disabled)
    security.remember(user, "disabled" if args.disabled else "enabled")
    action = "user.disable" if args.disabled else "user.enable"
    await security.audit.record(_local_principal(), action, target=user.username)
    print(f"{'disabled' if args.disabled else 'enabled'} user {user.username}")
    return 0


async def _user_passwd(node: HeartNode, args: argparse.Namespace) -> int:
    password = read_new_password("New password: ")
    user = await node.security.accounts.set_password(args.name, password)
    await node.security.audit.record(
        _local_principal(), "user.reset_password", target=user.username
    )
    print(f"password of {user.username} changed")
    return 0


def _print_result(result: ReloadResult) -> int:
    if result.ok:
        extra = f" (also rebuilt: {', '.join(result.dependants)})" if result.dependants else ""
        same = " (unchanged)" if result.unchanged else ""
        print(f"{result.module}: v{result.version} active{same}{extra}")
        return 0
    print(f"{result.module}: refused at {result.stage}: {result.reason}", file=sys.stderr)
    return 1


async def _tools_list(node: HeartNode, args: argparse.Namespace) -> int:
    tools = await node.facade.list_tools(_local_principal())
    print(f"{'TOOL':<20} {'MODULE':<18} {'VER':>4} {'CALLS':>7} {'ERRORS':>6}  SIGNATURE")
    for t in tools:
        print(
            f"{t.name:<20} {t.module:<18} {t.version:>4} {t.calls:>7} {t.errors:>6}  {t.signature}"
        )
    for problem in node.status().startup_problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


async def _tools_versions(node: HeartNode, args: argparse.Namespace) -> int:
    versions = await node.facade.module_versions(_local_principal(), args.name)
    print(f"{'VER':>4} {'STATE':<10} {'ORIGIN':<11} {'CREATED':<19} {'HASH':<12} NOTE")
    for v in versions:
        mark = "*" if v.active else " "
        note = v.error or (f"from v{v.parent}" if v.parent else "")
        print(
            f"{v.version:>3}{mark} {v.state:<10} {v.origin:<11} {_fmt_ts(v.created_at):<19} "
            f"{v.content_hash[:12]:<12} {note}"
        )
    return 0


async def _tools_activate(node: HeartNode, args: argparse.Namespace) -> int:
    result = await node.facade.activate_version(_local_principal(), args.name, args.version)
    return _print_result(result)


async def _tools_rollback(node: HeartNode, args: argparse.Namespace) -> int:
    return _print_result(await node.facade.rollback_module(_local_principal(), args.name))


async def _tools_reload(node: HeartNode, args: argparse.Namespace) -> int:
    result = await node.facade.reload_module(_local_principal(), args.module, force=args.force)
    return _print_result(result)


async def _tools_set_state(node: HeartNode, args: argparse.Namespace) -> int:
    info = await node.facade.set_version_state(
        _local_principal(), args.name, args.version, args.state
    )
    print(f"{info.module} v{info.version} is now {info.state}")
    return 0


async def _tools_call(node: HeartNode, args: argparse.Namespace) -> int:
    try:
        call_args = json.loads(args.args)
    except json.JSONDecodeError as exc:
        raise ChimeraError(f"--args is not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(call_args, dict):
        raise ChimeraError("--args must be a JSON object")
    result = await node.facade.call_tool(
        _local_principal(), args.name, call_args, version=args.tool_version
    )
    print(json.dumps(result, indent=2, default=str))
    return 0


async def _patch_list(node: HeartNode, args: argparse.Namespace) -> int:
    states = tuple(PatchState(s) for s in args.state)
    patches = await node.facade.list_patches(_local_principal(), states=states)
    if not patches:
        print("no patches")
        return 0
    print(f"{'ID':>4} {'STATE':<12} {'MODULE':<16} {'BASE':>4} {'RISK':<6} {'PROVIDER':<20} REASON")
    for p in patches:
        source = f"{p.provider}{' (replay)' if p.replay else ''}"
        print(
            f"{p.id:>4} {p.state.value:<12} {p.module:<16} {p.base_version:>4} {p.risk:<6} "
            f"{source:<20} {p.reason[:60]}"
        )
    return 0


async def _patch_show(node: HeartNode, args: argparse.Namespace) -> int:
    patch, events = await node.facade.get_patch(_local_principal(), args.id)
    print(
        f"{patch.label}: {patch.state.value}, risk {patch.risk}, "
        f"{patch.provider}/{patch.model}{' (replay)' if patch.replay else ''}, "
        f"{patch.input_tokens}+{patch.output_tokens} tokens, cost {patch.cost_usd}"
    )
    if patch.rationale:
        print(f"rationale: {patch.rationale}")
    if patch.reason:
        print(f"reason: {patch.reason}")
    print(patch.diff)
    if patch.result:
        print(f"sandbox: {patch.result.get('reason')}")
        for group in ("fail_to_pass", "pass_to_pass"):
            for t in patch.result.get(group, []):
                print(f"  {group:<12} {t['outcome']:<7} {t['nodeid']}")
    for e in events:
        print(f"{_fmt_ts(e.ts)} {e.state:<12} {e.actor:<18} {e.detail[:80]}")
    return 0


async def _patch_test(node: HeartNode, args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChimeraError(f"cannot read {args.file}: {exc.strerror}") from None
    result = await node.facade.test_patch_text(_local_principal(), args.module, text)
    print(json.dumps(result.as_dict(), indent=2))
    return 0 if result.ok else 1


async def _patch_request(node: HeartNode, args: argparse.Namespace) -> int:
    outcome = await node.facade.request_patch(_local_principal(), args.module, note=args.note)
    report = outcome.report
    label = f"{report.provider}/{report.model}{' (replay)' if report.replay else ''}"
    for reason in report.reasons:
        print(f"  {reason}", file=sys.stderr)
    if outcome.patch is None:
        print(f"no patch: {label} gave no usable answer in {report.attempts} attempt(s)")
        return 1
    print(
        f"patch {outcome.patch.id}: {outcome.patch.state.value} ({label}, "
        f"{report.attempts} attempt(s), ${report.cost_usd:.4f})"
    )
    return 0 if report.ok else 1


async def _patch_approve(node: HeartNode, args: argparse.Namespace) -> int:
    patch = await node.facade.approve_patch(_local_principal(), args.id)
    print(
        f"patch {patch.id}: {patch.state.value}"
        + (f" as v{patch.applied_version}" if patch.applied_version else f" ({patch.reason})")
    )
    return 0 if patch.state.value == "applied" else 1


async def _patch_decide(node: HeartNode, args: argparse.Namespace) -> int:
    if args.action == "reject":
        patch = await node.facade.reject_patch(_local_principal(), args.id, args.reason)
    else:
        patch = await node.facade.rollback_patch(_local_principal(), args.id, args.reason)
    print(f"patch {patch.id}: {patch.state.value}")
    return 0


async def _audit_verify(node: HeartNode, args: argparse.Namespace) -> int:
    result = await node.security.audit.verify()
    print(result.summary())
    return 0 if result.ok else 1


async def _audit_tail(node: HeartNode, args: argparse.Namespace) -> int:
    entries = await node.security.audit.query(AuditQuery(action_prefix=args.action, limit=args.n))
    for e in reversed(entries):
        if args.json:
            print(json.dumps(asdict(e), sort_keys=True))
        else:
            detail = json.dumps(e.detail, sort_keys=True) if e.detail else ""
            print(
                f"{e.seq:>7} {_fmt_ts(e.ts)} {e.actor:<18} {e.action:<24} {e.outcome:<6} "
                f"{e.target} {detail}".rstrip()
            )
    return 0


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


def _fmt_ts(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    if not args.needs_node:
        served: int = await args.handler(settings, args)
        return served
    # one-shot commands neither watch files nor keep anything running
    settings = replace(
        settings,
        tools=replace(settings.tools, watch=False),
        api=replace(settings.api, enabled=False),
    )
    async with HeartNode(settings) as node:
        result: int = await args.handler(node, args)
        return result


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
