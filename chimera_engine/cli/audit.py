"""``chimera audit``: read and verify the tamper-evident log."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from chimera_engine.audit.store import AuditQuery
from chimera_engine.cli.common import Subparsers, fmt_ts
from chimera_engine.node import HeartNode


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    audit = sub.add_parser("audit", parents=[common], help="read and verify the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", parents=[common], help="check the hash chain")
    verify.add_argument(
        "--against",
        metavar="FILE",
        help="also check every entry of an exported copy (audit.export_path) is unchanged",
    )
    verify.set_defaults(handler=audit_verify, needs_node="accounts")
    tail = audit_sub.add_parser("tail", parents=[common], help="print the newest entries")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")
    tail.add_argument("--action", default="", help="only actions starting with this")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.set_defaults(handler=audit_tail, needs_node="accounts")


async def audit_verify(node: HeartNode, args: argparse.Namespace) -> int:
    result = await node.security.audit.verify()
    print(result.summary())
    if args.against:
        copy = await node.security.audit.verify_against(Path(args.against))
        if copy.ok:
            print(f"all {copy.checked} entries of {args.against} are in the log unchanged")
        else:
            print(f"export check failed at entry {copy.first_bad_seq}: {copy.reason}")
        return 0 if result.ok and copy.ok else 1
    return 0 if result.ok else 1


async def audit_tail(node: HeartNode, args: argparse.Namespace) -> int:
    entries = await node.security.audit.query(AuditQuery(action_prefix=args.action, limit=args.n))
    for e in reversed(entries):
        if args.json:
            print(json.dumps(asdict(e), sort_keys=True))
        else:
            detail = json.dumps(e.detail, sort_keys=True) if e.detail else ""
            print(
                f"{e.seq:>7} {fmt_ts(e.ts)} {e.actor:<18} {e.action:<24} {e.outcome:<6} "
                f"{e.target} {detail}".rstrip()
            )
    return 0
