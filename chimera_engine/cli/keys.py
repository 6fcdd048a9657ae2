"""``chimera key``: API keys for clients and node keys for swarm workers.

``create`` prints the key once (only a keyed hash is stored); ``--node`` makes a
node key, the credential a Dask worker presents (``CHIMERA_NODE_KEY``) before it
gets any work. Every change is audited as the owner of the data directory.
"""

from __future__ import annotations

import argparse
import re
import sys
import time

from chimera_engine.cli.common import Subparsers, fmt_ts, local_principal
from chimera_engine.errors import ChimeraError
from chimera_engine.node import HeartNode
from chimera_engine.security.apikeys import APIKey
from chimera_engine.security.permissions import Permission, Role

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_ttl(text: str) -> float:
    """``"90"`` (seconds), ``"15m"``, ``"12h"``, ``"30d"``, ``"2w"`` -> seconds.

    >>> parse_ttl("12h"), parse_ttl("90")
    (43200.0, 90.0)
    """
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if found is None or float(found.group(1)) <= 0:
        raise ChimeraError(
            f"--ttl: expected a positive duration like 3600, 15m, 12h or 30d, got {text!r}"
        )
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    key = sub.add_parser("key", parents=[common], help="API keys and swarm node keys")
    key_sub = key.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    p = key_sub.add_parser("create", parents=[common], help="create a key and print it once")
    p.add_argument("--name", required=True, help="what the key is for (1-80 characters)")
    p.add_argument("--role", choices=[r.value for r in Role], help="the role the key acts as")
    p.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="PERMISSION",
        choices=[perm.value for perm in Permission],
        help="limit the key to this permission of its role (repeatable)",
    )
    p.add_argument("--node", action="store_true", help="a node key for swarm workers")
    p.add_argument("--ttl", help="expire after this long (3600, 15m, 12h, 30d); default never")
    p.set_defaults(handler=key_create, needs_node="accounts")
    p = key_sub.add_parser("list", parents=[common], help="every key (never the secret part)")
    p.set_defaults(handler=key_list, needs_node="accounts")
    p = key_sub.add_parser("revoke", parents=[common], help="revoke a key at once")
    p.add_argument("key_id", type=int, metavar="ID")
    p.set_defaults(handler=key_revoke, needs_node="accounts")


async def key_create(node: HeartNode, args: argparse.Namespace) -> int:
    role = args.role
    if args.node:
        if role not in (None, Role.NODE.value):
            raise ChimeraError(f"--node makes a key with role node, not {role}")
        role = Role.NODE.value
    if role is None:
        raise ChimeraError("give --role ROLE (or --node for a swarm worker's key)")
    expires = time.time() + parse_ttl(args.ttl) if args.ttl else None
    plaintext, key = await node.facade.admin.create_api_key(
        local_principal(), name=args.name, role=role, scopes=args.scope, expires_at=expires
    )
    print(plaintext)
    hint = "; give it to a worker as CHIMERA_NODE_KEY=..." if role == Role.NODE.value else ""
    print(
        f"key {key.id} ({key.prefix}, role {key.role.value}) created; it is shown only "
        f"this once{hint}",
        file=sys.stderr,
    )
    return 0


def key_row(key: APIKey, now: float) -> str:
    scopes = ",".join(key.scopes) or "-"
    expires = fmt_ts(key.expires_at) if key.expires_at else "never"
    used = fmt_ts(key.last_used_at) if key.last_used_at else "never"
    return (
        f"{key.id:>4} {key.prefix:<9} {key.name[:24]:<24} {key.role.value:<9} "
        f"{key.state(now):<8} {expires:<19} {used:<19} {scopes}"
    )


async def key_list(node: HeartNode, args: argparse.Namespace) -> int:
    keys = await node.facade.admin.list_api_keys(local_principal())
    if not keys:
        print("no keys: create one with 'chimera key create --name NAME --role ROLE'")
        return 0
    print(
        f"{'ID':>4} {'PREFIX':<9} {'NAME':<24} {'ROLE':<9} {'STATE':<8} {'EXPIRES':<19} "
        f"{'LAST USED':<19} SCOPES"
    )
    now = time.time()
    for key in keys:
        print(key_row(key, now))
    return 0


async def key_revoke(node: HeartNode, args: argparse.Namespace) -> int:
    key = await node.facade.admin.revoke_api_key(local_principal(), args.key_id)
    print(f"key {key.id} ({key.prefix}, {key.name}) revoked")
    return 0
