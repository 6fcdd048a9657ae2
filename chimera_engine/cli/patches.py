"""``chimera patch``: LLM patches and their review."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

from chimera_engine.cli.common import Subparsers, fmt_ts, local_principal
from chimera_engine.errors import ChimeraError, NotFoundError
from chimera_engine.events import PatchAttemptRecorded, PatchProgress, Subscription
from chimera_engine.node import HeartNode
from chimera_engine.patches.attempts import describe_trigger, tokens_text
from chimera_engine.patches.models import PatchState


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    patch = sub.add_parser("patch", parents=[common], help="LLM patches and their review")
    patch_sub = patch.add_subparsers(dest="patch_command", required=True, metavar="ACTION")
    p = patch_sub.add_parser("list", parents=[common], help="the review queue")
    p.add_argument("--state", action="append", default=[], help="only these states")
    p.set_defaults(handler=patch_list, needs_node=True)
    p = patch_sub.add_parser("show", parents=[common], help="a patch: diff, tests, results")
    p.add_argument("id", type=int)
    p.set_defaults(handler=patch_show, needs_node=True)
    p = patch_sub.add_parser("test", parents=[common], help="sandbox-test a patch file (JSON out)")
    p.add_argument("file", type=Path, help="a patch in answer format (diff + new tests)")
    p.add_argument("--module", required=True, help="the tool module it changes")
    p.set_defaults(handler=patch_test, needs_node=True)
    p = patch_sub.add_parser("request", parents=[common], help="ask the provider for a fix")
    p.add_argument("module")
    p.add_argument("--note", default="", help="what the operator saw")
    p.set_defaults(handler=patch_request, needs_node=True)
    p = patch_sub.add_parser(
        "attempts", parents=[common], help="every answer asked of the model, usable or not"
    )
    p.add_argument("--failed", action="store_true", help="only attempts that gave no patch")
    p.add_argument("--module", help="only this tool module")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--show", type=int, metavar="ID", help="one attempt: prompt and answer")
    p.set_defaults(handler=patch_attempts, needs_node=True)
    p = patch_sub.add_parser("approve", parents=[common], help="approve and apply a ready patch")
    p.add_argument("id", type=int)
    p.set_defaults(handler=patch_approve, needs_node=True)
    for action in ("reject", "rollback"):
        p = patch_sub.add_parser(action, parents=[common], help=f"{action} a patch")
        p.add_argument("id", type=int)
        p.add_argument("--reason", required=action == "reject", default="", help="why")
        p.set_defaults(handler=patch_decide, needs_node=True, action=action)


async def patch_list(node: HeartNode, args: argparse.Namespace) -> int:
    states = tuple(PatchState(s) for s in args.state)
    patches = await node.facade.patches.list_patches(local_principal(), states=states)
    if not patches:
        print("no patches")
        return 0
    print(f"{'ID':>4} {'STATE':<12} {'MODULE':<16} {'BASE':>4} {'RISK':<6} {'PROVIDER':<20} REASON")
    for p in patches:
        source = f"{p.provider}{' (scripted)' if p.replay else ''}"
        print(
            f"{p.id:>4} {p.state.value:<12} {p.module:<16} {p.base_version:>4} {p.risk:<6} "
            f"{source:<20} {p.reason[:60]}"
        )
    return 0


async def patch_show(node: HeartNode, args: argparse.Namespace) -> int:
    patch, events = await node.facade.patches.get_patch(local_principal(), args.id)
    print(
        f"{patch.label}: {patch.state.value}, risk {patch.risk}, "
        f"{patch.provider}/{patch.model}{' (scripted)' if patch.replay else ''}, "
        f"{patch.input_tokens}+{patch.output_tokens} tokens, cost {patch.cost_usd}"
    )
    attempts = await node.facade.patches.list_attempts(
        local_principal(), patch_id=patch.id, limit=1
    )
    if attempts:
        print(f"requested because: {describe_trigger(attempts[0].trigger)}")
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
        print(f"{fmt_ts(e.ts)} {e.state:<12} {e.actor:<18} {e.detail[:80]}")
    return 0


async def patch_test(node: HeartNode, args: argparse.Namespace) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ChimeraError(f"cannot read {args.file}: {exc.strerror}") from None
    result = await node.facade.patches.test_patch_text(local_principal(), args.module, text)
    print(json.dumps(result.as_dict(), indent=2))
    return 0 if result.ok else 1


async def patch_request(node: HeartNode, args: argparse.Namespace) -> int:
    progress = node.bus.subscribe(PatchProgress, PatchAttemptRecorded)
    shown = asyncio.create_task(_show_progress(progress, sys.stderr.isatty()))
    try:
        outcome = await node.facade.patches.request_patch(
            local_principal(), args.module, note=args.note
        )
    finally:
        shown.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await shown
        progress.close()
    report = outcome.report
    label = f"{report.provider}/{report.model}{' (scripted)' if report.replay else ''}"
    if outcome.patch is None:
        print(
            f"no patch: {label} gave no usable answer in {report.attempts} attempt(s); "
            "see `chimera patch attempts --failed`"
        )
        return 1
    print(
        f"patch {outcome.patch.id}: {outcome.patch.state.value} ({label}, "
        f"{report.attempts} attempt(s), ${report.cost_usd:.4f})"
    )
    return 0 if report.ok else 1


async def patch_approve(node: HeartNode, args: argparse.Namespace) -> int:
    patch = await node.facade.patches.approve_patch(local_principal(), args.id)
    print(
        f"patch {patch.id}: {patch.state.value}"
        + (f" as v{patch.applied_version}" if patch.applied_version else f" ({patch.reason})")
    )
    return 0 if patch.state.value == "applied" else 1


async def patch_decide(node: HeartNode, args: argparse.Namespace) -> int:
    if args.action == "reject":
        patch = await node.facade.patches.reject_patch(local_principal(), args.id, args.reason)
    else:
        patch = await node.facade.patches.rollback_patch(local_principal(), args.id, args.reason)
    print(f"patch {patch.id}: {patch.state.value}")
    return 0


async def _show_progress(sub: Subscription, live: bool) -> None:
    """Tokens so far while the model streams (one updating line on a terminal)."""
    while True:
        event = await sub.get()
        if isinstance(event, PatchProgress):
            line = (
                f"attempt {event.attempt}: {event.pieces:,} tokens so far "
                f"({event.chars:,} characters, {event.elapsed_s:.0f} s)"
            )
            print(f"\r{line}" if live else line, end="" if live else "\n", file=sys.stderr)
        elif isinstance(event, PatchAttemptRecorded):
            end = "\n" if live else ""
            print(
                f"{end}attempt {event.number}: {event.verdict}: {event.reason}",
                file=sys.stderr,
            )


async def patch_attempts(node: HeartNode, args: argparse.Namespace) -> int:
    principal = local_principal()
    if args.show is not None:
        found = [
            a
            for a in await node.facade.patches.list_attempts(principal, limit=100_000)
            if a.id == args.show
        ]
        if not found:
            raise NotFoundError(f"attempt {args.show} does not exist")
        a = found[0]
        print(f"attempt {a.id} ({a.module} v{a.base_version}, try {a.number}): {a.verdict}")
        print(f"reason: {a.reason}")
        print(f"requested because: {describe_trigger(a.trigger)}")
        print(f"provider: {a.provider}/{a.model}{' (scripted)' if a.scripted else ''}")
        print(
            f"tokens: {tokens_text(a.input_tokens)} in, {tokens_text(a.output_tokens)} out; "
            f"cost: {'unknown' if a.cost_usd is None else f'${a.cost_usd:.6f}'}; "
            f"latency: {'-' if a.latency_s is None else f'{a.latency_s:.2f} s'}"
        )
        print("--- prompt ---")
        print(a.prompt)
        print("--- answer ---")
        print(a.answer)
        return 0
    attempts = await node.facade.patches.list_attempts(
        principal, failed_only=args.failed, module=args.module, limit=args.limit
    )
    if not attempts:
        print("no attempts")
        return 0
    print(
        f"{'ID':>4} {'WHEN':<19} {'MODULE':<14} {'#':>2} {'VERDICT':<11} "
        f"{'TOKENS IN/OUT':<17} {'PROVIDER':<22} REASON"
    )
    for a in attempts:
        tokens = f"{tokens_text(a.input_tokens)}/{tokens_text(a.output_tokens)}"
        source = f"{a.provider}/{a.model}{' (scripted)' if a.scripted else ''}"
        print(
            f"{a.id:>4} {fmt_ts(a.ts):<19} {a.module:<14} {a.number:>2} {a.verdict:<11} "
            f"{tokens:<17} {source[:22]:<22} {a.reason[:70]}"
        )
    return 0
