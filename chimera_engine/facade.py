"""The authorised facade: the one door through which the console, the CLI and the
HTTP API act on the engine.

Every method takes the acting :class:`Principal`, checks a named permission
(refusals are audited) and audits every state change. Commands return what
changed so callers can decide what to redraw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chimera_engine.errors import ChimeraError, ValidationError
from chimera_engine.heal.ops import HealOps
from chimera_engine.intent.ops import IntentOps
from chimera_engine.ops.access import AccessOps
from chimera_engine.ops.demo import DemoOps
from chimera_engine.ops.metrics import MetricOps
from chimera_engine.ops.patches import PatchOps
from chimera_engine.ops.settings import SettingsOps
from chimera_engine.ops.tools import ToolOps
from chimera_engine.security.audit import AuditVerification
from chimera_engine.security.manager import Session
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal
from chimera_engine.security.redact import hide_attempted_names, hide_paths
from chimera_engine.store.audit import AuditQuery
from chimera_engine.store.records import AuditEntry, UserRecord
from chimera_engine.swarm.ops import SwarmOps

if TYPE_CHECKING:
    from chimera_engine.node import HeartNode
    from chimera_engine.node_status import NodeStatus


@dataclass(frozen=True, kw_only=True)
class UserChange:
    """What a user-management command changed."""

    user: UserRecord
    change: str


class EngineFacade(
    ToolOps, AccessOps, PatchOps, MetricOps, SwarmOps, IntentOps, SettingsOps, HealOps, DemoOps
):
    def __init__(self, node: HeartNode) -> None:
        self._node = node

    # -- sessions (no principal yet) ---------------------------------------------------------
    async def needs_first_admin(self) -> bool:
        return await self._node.security.needs_first_admin()

    async def create_first_admin(self, username: str, password: str) -> Session:
        return await self._node.security.create_first_admin(username, password)

    async def login(self, username: str, password: str, *, client: str = "console") -> Session:
        return await self._node.security.login(username, password, client=client)

    async def refresh(self, refresh_token: str) -> Session:
        return await self._node.security.refresh(refresh_token)

    async def logout(self, principal: Principal, refresh_token: str | None = None) -> None:
        await self._node.security.logout(principal, refresh_token)

    # -- engine ---------------------------------------------------------------------------------
    async def status(self, principal: Principal) -> NodeStatus:
        await self._node.security.authorize(principal, Permission.ENGINE_STATUS)
        status = self._node.status()
        if principal.role is Role.ADMIN:
            return status
        return hide_paths(status, self._node.settings.data_dir, self._node.settings.workspace_path)

    # -- audit ----------------------------------------------------------------------------------
    async def audit_query(self, principal: Principal, query: AuditQuery) -> list[AuditEntry]:
        await self._node.security.authorize(principal, Permission.AUDIT_READ)
        entries = await self._node.security.audit.query(query)
        if principal.role is Role.ADMIN:
            return entries
        return [hide_attempted_names(e) for e in entries]

    async def audit_verify(self, principal: Principal) -> AuditVerification:
        security = self._node.security
        await security.authorize(principal, Permission.AUDIT_VERIFY)
        result = await security.audit.verify()
        await security.audit.record(
            principal,
            "audit.verify",
            outcome="ok" if result.ok else "error",
            checked=result.checked,
            first_bad_seq=result.first_bad_seq,
            reason=result.reason,
        )
        return result

    # -- users ----------------------------------------------------------------------------------
    async def list_users(self, principal: Principal) -> list[UserRecord]:
        await self._node.security.authorize(principal, Permission.USER_READ)
        return await self._node.security.accounts.users.list()

    async def create_user(
        self, principal: Principal, username: str, password: str, role: Role | str
    ) -> UserChange:
        security = self._node.security
        await security.authorize(principal, Permission.USER_MANAGE, target=username)
        try:
            user = await security.accounts.create(username, password, role)
        except ChimeraError as exc:
            await security.audit.record(
                principal, "user.create", target=username, outcome="error", reason=str(exc)
            )
            raise
        security.remember(user, "created")
        await security.audit.record(principal, "user.create", target=user.username, role=user.role)
        return UserChange(user=user, change="created")

    async def set_user_role(
        self, principal: Principal, username: str, role: Role | str
    ) -> UserChange:
        security = self._node.security
        await security.authorize(principal, Permission.USER_MANAGE, target=username)
        self._refuse_self_demotion(principal, username, role)
        user = await security.accounts.set_role(username, role)
        security.remember(user, "role")
        await security.audit.record(
            principal, "user.set_role", target=user.username, role=user.role
        )
        return UserChange(user=user, change="role")

    async def set_user_disabled(
        self, principal: Principal, username: str, disabled: bool
    ) -> UserChange:
        security = self._node.security
        await security.authorize(principal, Permission.USER_MANAGE, target=username)
        if disabled and username.lower() == principal.name.lower():
            raise ValidationError("you cannot disable your own account")
        user = await security.accounts.set_disabled(username, disabled)
        security.remember(user, "disabled" if disabled else "enabled")
        await security.audit.record(
            principal, "user.disable" if disabled else "user.enable", target=user.username
        )
        return UserChange(user=user, change="disabled" if disabled else "enabled")

    async def reset_password(
        self, principal: Principal, username: str, password: str
    ) -> UserChange:
        security = self._node.security
        await security.authorize(principal, Permission.USER_MANAGE, target=username)
        user = await security.accounts.set_password(username, password)
        security.remember(user, "password")
        await security.audit.record(principal, "user.reset_password", target=user.username)
        return UserChange(user=user, change="password")

    @staticmethod
    def _refuse_self_demotion(principal: Principal, username: str, role: Role | str) -> None:
        if username.lower() == principal.name.lower() and str(role) != Role.ADMIN.value:
            raise ValidationError("you cannot remove your own administrator role")
