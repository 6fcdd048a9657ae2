"""Every role against every permission, checked against a table written out here."""

from __future__ import annotations

import pytest

from chimera_engine.audit.store import AuditQuery
from chimera_engine.errors import PermissionDeniedError
from chimera_engine.node import HeartNode
from chimera_engine.security.permissions import MATRIX, Permission, Role, has_permission

OBSERVER = {
    "engine.status",
    "audit.read",
    "metrics.read",
    "anomaly.read",
    "tool.read",
    "patch.read",
    "swarm.read",
}
OPERATOR = OBSERVER | {
    "audit.verify",
    "metrics.push",
    "metrics.configure",
    "anomaly.acknowledge",
    "tool.call",
    "tool.reload",
    "tool.activate",
    "patch.generate",
    "patch.approve",
    "patch.rollback",
    "llm.generate",
    "swarm.spawn",
    "swarm.task",
    "swarm.consensus",
    "demo.control",
}
EXPECTED = {
    "admin": {p.value for p in Permission},
    "operator": OPERATOR,
    "observer": OBSERVER,
    "node": {"engine.status", "node.register", "node.report", "metrics.push", "tool.read"},
    "api_client": {
        "engine.status",
        "metrics.read",
        "metrics.push",
        "anomaly.read",
        "tool.read",
        "tool.call",
        "patch.read",
        "llm.generate",
        "swarm.read",
        "swarm.task",
    },
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_role_permissions(role: Role, permission: Permission) -> None:
    assert has_permission(role, permission) == (permission.value in EXPECTED[role.value])


def test_matrix_covers_every_role_and_hierarchy_holds() -> None:
    assert set(MATRIX) == set(Role)
    assert MATRIX[Role.OBSERVER] < MATRIX[Role.OPERATOR] < MATRIX[Role.ADMIN]


def test_unknown_role_holds_nothing() -> None:
    assert not has_permission("superuser", Permission.ENGINE_STATUS)


async def test_observer_calling_admin_operation_is_refused_and_audited(
    node: HeartNode, user_factory
) -> None:
    observer = await user_factory("olga", "observer")
    with pytest.raises(
        PermissionDeniedError, match=r"olga \(observer\) is not allowed to user.manage"
    ):
        await node.facade.admin.create_user(
            observer.principal, "mallory", "another good pass", "admin"
        )
    denied = await node.security.audit.query(AuditQuery(outcome="denied"))
    assert denied[0].actor == "olga"
    assert denied[0].action == "user.manage"
    assert denied[0].target == "mallory"
    assert "lacks user.manage" in denied[0].detail["reason"]
    assert await node.security.accounts.users.get("mallory") is None


async def test_operator_may_read_audit_but_not_manage_users(node: HeartNode, user_factory) -> None:
    operator = await user_factory("oscar", "operator")
    entries = await node.facade.audit.query(operator.principal, AuditQuery(limit=5))
    assert entries
    with pytest.raises(PermissionDeniedError):
        await node.facade.admin.list_users(operator.principal)
