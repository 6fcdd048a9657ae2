"""The text a disabled button shows when the signed-in user lacks its permission."""

from __future__ import annotations

from chimera_engine.security.permissions import Permission
from chimera_engine.security.principal import Principal


def missing_permission(principal: Principal | None, permission: Permission) -> str:
    """Why ``principal`` may not use a button needing ``permission`` ("" if it may)."""
    if principal is None:
        return f"Sign in with the {permission.value} permission to use this"
    if principal.can(permission):
        return ""
    return (
        f"Requires the {permission.value} permission; "
        f"{principal.name} ({principal.role.value}) does not have it"
    )
