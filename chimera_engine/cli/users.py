"""``chimera user``: accounts, acting as the owner of the data directory."""

from __future__ import annotations

import argparse

from chimera_engine.cli.common import Subparsers, fmt_ts, local_principal, read_new_password
from chimera_engine.node import HeartNode
from chimera_engine.security.permissions import Role


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    user = sub.add_parser("user", parents=[common], help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", parents=[common], help="create a user")
    add.add_argument("name")
    add.add_argument("--role", default=Role.OPERATOR.value, choices=[r.value for r in Role])
    add.set_defaults(handler=user_add, needs_node="accounts")
    lst = user_sub.add_parser("list", parents=[common], help="list users")
    lst.set_defaults(handler=user_list, needs_node="accounts")
    for action, help_text in (("disable", "disable a user"), ("enable", "enable a user")):
        p = user_sub.add_parser(action, parents=[common], help=help_text)
        p.add_argument("name")
        p.set_defaults(handler=user_disable, needs_node="accounts", disabled=action == "disable")
    pw = user_sub.add_parser("passwd", parents=[common], help="set a user's password")
    pw.add_argument("name")
    pw.set_defaults(handler=user_passwd, needs_node="accounts")
    role = user_sub.add_parser("role", parents=[common], help="change a user's role")
    role.add_argument("name")
    role.add_argument("role", choices=[r.value for r in Role])
    role.set_defaults(handler=user_role, needs_node="accounts")
    delete = user_sub.add_parser("delete", parents=[common], help="delete a user")
    delete.add_argument("name")
    delete.set_defaults(handler=user_delete, needs_node="accounts")


async def user_add(node: HeartNode, args: argparse.Namespace) -> int:
    password = read_new_password()
    security = node.security
    user = await security.accounts.create(args.name, password, args.role)
    security.remember(user, "created")
    await security.audit.record(
        local_principal(), "user.create", target=user.username, role=user.role
    )
    print(f"created user {user.username} with role {user.role}")
    return 0


async def user_list(node: HeartNode, args: argparse.Namespace) -> int:
    users = await node.security.accounts.users.list()
    if not users:
        print(
            "no users yet: create the first administrator with 'chimera user add NAME --role admin'"
        )
        return 0
    print(f"{'USER':<24} {'ROLE':<11} {'STATE':<9} LAST LOGIN")
    for u in users:
        state = "disabled" if u.disabled else ("locked" if u.locked_until else "active")
        last = fmt_ts(u.last_login) if u.last_login else "never"
        print(f"{u.username:<24} {u.role:<11} {state:<9} {last}")
    return 0


async def user_disable(node: HeartNode, args: argparse.Namespace) -> int:
    security = node.security
    user = await security.accounts.set_disabled(args.name, args.disabled)
    security.remember(user, "disabled" if args.disabled else "enabled")
    action = "user.disable" if args.disabled else "user.enable"
    await security.audit.record(local_principal(), action, target=user.username)
    print(f"{'disabled' if args.disabled else 'enabled'} user {user.username}")
    return 0


async def user_passwd(node: HeartNode, args: argparse.Namespace) -> int:
    password = read_new_password("New password: ")
    user = await node.security.accounts.set_password(args.name, password)
    await node.security.audit.record(local_principal(), "user.reset_password", target=user.username)
    print(f"password of {user.username} changed")
    return 0


async def user_role(node: HeartNode, args: argparse.Namespace) -> int:
    security = node.security
    user = await security.accounts.set_role(args.name, args.role)
    security.remember(user, "role")
    await security.audit.record(
        local_principal(), "user.set_role", target=user.username, role=user.role
    )
    print(f"user {user.username} now has role {user.role}")
    return 0


async def user_delete(node: HeartNode, args: argparse.Namespace) -> int:
    security = node.security
    user = await security.accounts.delete(args.name)
    security.forget(user)
    await security.audit.record(local_principal(), "user.delete", target=user.username)
    print(f"deleted user {user.username}")
    return 0
