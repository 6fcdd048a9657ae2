"""Node credentials: how agents prove they may join the swarm.

The coordinator hands each agent process a node-role API key (in its
environment, never on the command line) and authenticates the key the agent
presents in its hello (and, on Dask, with every result). An agent is accepted
only if the key has the ``node`` role and holds ``node.register`` and ``node.report``.
"""

from __future__ import annotations

from typing import Protocol

from chimera_engine.errors import AuthenticationError
from chimera_engine.security.apikeys import APIKeyStore
from chimera_engine.security.permissions import Permission, Role
from chimera_engine.security.principal import Principal

KEY_NAME = "swarm agents"


class NodeCredentials(Protocol):
    async def issue(self) -> str:
        """A node-role key for agents this coordinator starts (plaintext)."""
        ...

    def authenticate(self, key: str) -> Principal:
        """The principal of ``key``; AuthenticationError if refused."""
        ...

    async def revoke(self) -> None:
        """Withdraw the issued key (at coordinator stop)."""
        ...


def require_node(principal: Principal) -> Principal:
    """Refuse a principal that is not a node, or may not register and report as one
    (an administrator's key is refused too: agents get least privilege)."""
    if principal.role is not Role.NODE:
        raise AuthenticationError(
            f"{principal.name} has role {principal.role.value}; agents need node-role credentials"
        )
    for needed in (Permission.NODE_REGISTER, Permission.NODE_REPORT):
        if not principal.can(needed):
            raise AuthenticationError(
                f"{principal.name} ({principal.role.value}) lacks {needed.value}; agents need "
                "node-role credentials"
            )
    return principal


class ApiKeyNodeCredentials:
    """NodeCredentials over the engine's API keys: one ``node`` key per coordinator run,
    scoped to ``node.register`` and ``node.report``; a stale key of an earlier run that
    ended abruptly is revoked when the next one is issued."""

    def __init__(self, api_keys: APIKeyStore, *, created_by: str = "system:swarm") -> None:
        self._keys = api_keys
        self._created_by = created_by
        self._plaintext: str | None = None
        self._key_id: int | None = None

    async def issue(self) -> str:
        if self._plaintext is None:
            for stale in self._keys.list():
                if stale.name == KEY_NAME and stale.revoked_at is None:
                    await self._keys.revoke(stale.id)
            plaintext, record = await self._keys.create(
                name=KEY_NAME,
                role=Role.NODE,
                created_by=self._created_by,
                scopes=(Permission.NODE_REGISTER.value, Permission.NODE_REPORT.value),
            )
            self._plaintext, self._key_id = plaintext, record.id
        return self._plaintext

    def authenticate(self, key: str) -> Principal:
        if not key:
            raise AuthenticationError("no node credentials presented")
        _, principal = self._keys.authenticate(key)
        return require_node(principal)

    async def revoke(self) -> None:
        if self._key_id is not None:
            await self._keys.revoke(self._key_id)
        self._plaintext = self._key_id = None
