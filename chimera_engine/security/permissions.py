"""Roles, permissions and the one permission matrix of the product.

Every state-changing engine operation names a :class:`Permission`; the matrix
below is the only place that decides who holds it. The three human roles are
hierarchical (admin > operator > observer); ``node`` and ``api_client`` are
machine roles with their own narrow sets.

>>> has_permission(Role.OPERATOR, Permission.PATCH_APPROVE)
True
>>> has_permission(Role.OBSERVER, Permission.TOOL_RELOAD)
False
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    OBSERVER = "observer"
    NODE = "node"
    API_CLIENT = "api_client"


class Permission(StrEnum):
    ENGINE_STATUS = "engine.status"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"
    APIKEY_MANAGE = "apikey.manage"
    CAPABILITY_ISSUE = "capability.issue"
    SETTINGS_MANAGE = "settings.manage"
    METRICS_READ = "metrics.read"
    METRICS_PUSH = "metrics.push"
    METRICS_CONFIGURE = "metrics.configure"
    ANOMALY_READ = "anomaly.read"
    ANOMALY_ACKNOWLEDGE = "anomaly.acknowledge"
    TOOL_READ = "tool.read"
    TOOL_CALL = "tool.call"
    TOOL_RELOAD = "tool.reload"
    TOOL_ACTIVATE = "tool.activate"
    PATCH_READ = "patch.read"
    PATCH_GENERATE = "patch.generate"
    PATCH_APPROVE = "patch.approve"
    PATCH_ROLLBACK = "patch.rollback"
    LLM_GENERATE = "llm.generate"
    SWARM_READ = "swarm.read"
    SWARM_SPAWN = "swarm.spawn"
    SWARM_TASK = "swarm.task"
    SWARM_CONSENSUS = "swarm.consensus"
    NODE_REGISTER = "node.register"
    NODE_REPORT = "node.report"
    DEMO_CONTROL = "demo.control"


_OBSERVER = frozenset(
    {
        Permission.ENGINE_STATUS,
        Permission.AUDIT_READ,
        Permission.METRICS_READ,
        Permission.ANOMALY_READ,
        Permission.TOOL_READ,
        Permission.PATCH_READ,
        Permission.SWARM_READ,
    }
)

_OPERATOR = _OBSERVER | {
    Permission.AUDIT_VERIFY,
    Permission.METRICS_PUSH,
    Permission.METRICS_CONFIGURE,
    Permission.ANOMALY_ACKNOWLEDGE,
    Permission.TOOL_CALL,
    Permission.TOOL_RELOAD,
    Permission.TOOL_ACTIVATE,
    Permission.PATCH_GENERATE,
    Permission.PATCH_APPROVE,
    Permission.PATCH_ROLLBACK,
    Permission.LLM_GENERATE,
    Permission.SWARM_SPAWN,
    Permission.SWARM_TASK,
    Permission.SWARM_CONSENSUS,
    Permission.DEMO_CONTROL,
}

_ADMIN = frozenset(Permission)

_NODE = frozenset(
    {
        Permission.ENGINE_STATUS,
        Permission.NODE_REGISTER,
        Permission.NODE_REPORT,
        Permission.METRICS_PUSH,
        Permission.TOOL_READ,
    }
)

_API_CLIENT = frozenset(
    {
        Permission.ENGINE_STATUS,
        Permission.METRICS_READ,
        Permission.METRICS_PUSH,
        Permission.ANOMALY_READ,
        Permission.TOOL_READ,
        Permission.TOOL_CALL,
        Permission.PATCH_READ,
        Permission.LLM_GENERATE,
        Permission.SWARM_READ,
        Permission.SWARM_TASK,
    }
)

MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: _ADMIN,
    Role.OPERATOR: frozenset(_OPERATOR),
    Role.OBSERVER: _OBSERVER,
    Role.NODE: _NODE,
    Role.API_CLIENT: _API_CLIENT,
}


def has_permission(role: Role | str, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission``. Unknown roles hold nothing."""
    try:
        return permission in MATRIX[Role(role)]
    except ValueError:
        return False


def permissions_of(role: Role | str) -> frozenset[Permission]:
    return MATRIX.get(Role(role), frozenset())


def parse_role(value: str) -> Role:
    """The role named ``value``; :class:`ValueError` lists the valid names."""
    try:
        return Role(value)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}; expected one of {names}") from None
