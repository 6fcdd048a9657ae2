"""Who is acting: every engine operation takes a :class:`Principal`."""

from __future__ import annotations

from dataclasses import dataclass

from chimera_engine.security.permissions import Permission, Role, has_permission


@dataclass(frozen=True, kw_only=True)
class Principal:
    """An authenticated actor.

    ``via`` says how it was authenticated: ``password``, ``token``, ``api_key``,
    ``capability``, ``local`` (the ``chimera`` CLI run by the owner of the data
    directory) or ``system`` (the engine's own background services).
    ``scopes`` narrows an API key or capability to some permissions; ``target``
    pins a capability to one object (e.g. ``patch:42``).
    """

    user_id: int | None
    name: str
    role: Role
    via: str
    token_id: str | None = None
    expires_at: float | None = None
    scopes: frozenset[str] | None = None
    target: str | None = None
    issued_at: float | None = None
    session_epoch: int | None = None
    session_family: str | None = None

    @property
    def actor(self) -> str:
        """The name written in the audit log."""
        if self.via in ("system", "local"):
            return f"{self.via}:{self.name}"
        return self.name

    def can(self, permission: Permission) -> bool:
        """The role holds ``permission`` and, for scoped credentials, the scope allows it."""
        if self.scopes is not None and permission.value not in self.scopes:
            return False
        return has_permission(self.role, permission)

    @classmethod
    def system(cls, service: str) -> Principal:
        """The engine's own service ``service`` acting on its behalf (audited as such)."""
        return cls(user_id=None, name=service, role=Role.ADMIN, via="system")

    @classmethod
    def local(cls, os_user: str) -> Principal:
        """The owner of the data directory running the ``chimera`` command."""
        return cls(user_id=None, name=os_user, role=Role.ADMIN, via="local")
