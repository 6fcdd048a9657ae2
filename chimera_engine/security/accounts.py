"""Accounts: creation with the password policy, login with lockout and back-off."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from chimera_engine.errors import (
    AccountLockedError,
    AuthenticationError,
    NotFoundError,
    ValidationError,
)
from chimera_engine.security.passwords import PasswordHasher, check_password_policy
from chimera_engine.security.permissions import Role, parse_role
from chimera_engine.store.records import UserRecord
from chimera_engine.store.users import UserRepository

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
INVALID_CREDENTIALS = "invalid username or password"


@dataclass(frozen=True, kw_only=True)
class LockoutPolicy:
    """After ``threshold`` consecutive failures the account locks for ``base`` seconds,
    doubling with each further failure, up to ``maximum``."""

    threshold: int = 5
    base: float = 30.0
    maximum: float = 900.0

    def lock_seconds(self, failures: int) -> float:
        if failures < self.threshold:
            return 0.0
        return float(min(self.maximum, self.base * 2 ** (failures - self.threshold)))


def validate_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise ValidationError(
            "user name must be 2-64 characters: letters, digits, '.', '_', '-', '@', "
            "starting with a letter or digit"
        )
    return username


class AccountService:
    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        lockout: LockoutPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.users = users
        self.hasher = hasher
        self.lockout = lockout
        self._clock = clock

    async def create(
        self, username: str, password: str, role: Role | str, *, first_admin: bool = False
    ) -> UserRecord:
        username = validate_username(username)
        try:
            parsed = parse_role(str(role))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        check_password_policy(password, username)
        digest = await self.hasher.hash_async(password)
        return await self.users.create(
            username, digest, parsed.value, self._clock(), only_if_empty=first_admin
        )

    async def authenticate(self, username: str, password: str) -> UserRecord:
        """The user whose password matches, or an error that does not reveal which part
        was wrong. Locked and disabled accounts are refused before any hash is checked."""
        found = await self.users.get(username.strip())
        now = self._clock()
        if found is None:
            await self.hasher.verify_async(None, password)
            raise AuthenticationError(INVALID_CREDENTIALS)
        user, stored = found
        if user.locked_until > now:
            wait = user.locked_until - now
            raise AccountLockedError(
                f"account locked after repeated failed logins; try again in {wait:.0f} s", wait
            )
        if not await self.hasher.verify_async(stored, password):
            failures = user.failed_logins + 1
            lock = self.lockout.lock_seconds(failures)
            await self.users.update(
                user.id, failed_logins=failures, locked_until=now + lock if lock else 0.0
            )
            if lock:
                raise AccountLockedError(
                    f"account locked after {failures} failed logins; try again in {lock:.0f} s",
                    lock,
                )
            raise AuthenticationError(INVALID_CREDENTIALS)
        if user.disabled:
            raise AuthenticationError("account is disabled; ask an administrator")
        updates: dict[str, object] = {"failed_logins": 0, "locked_until": 0.0, "last_login": now}
        if self.hasher.needs_rehash(stored):
            updates["password_hash"] = await self.hasher.hash_async(password)
        return await self.users.update(user.id, **updates)

    async def set_password(self, username: str, password: str) -> UserRecord:
        user = await self._require(username)
        check_password_policy(password, user.username)
        digest = await self.hasher.hash_async(password)
        return await self.users.update(
            user.id,
            password_hash=digest,
            password_changed_at=self._clock(),
            failed_logins=0,
            locked_until=0.0,
        )

    async def set_role(self, username: str, role: Role | str) -> UserRecord:
        user = await self._require(username)
        try:
            parsed = parse_role(str(role))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return await self.users.update(user.id, role=parsed.value)

    async def set_disabled(self, username: str, disabled: bool) -> UserRecord:
        user = await self._require(username)
        return await self.users.update(user.id, disabled=int(disabled))

    async def delete(self, username: str) -> UserRecord:
        """Remove a user; returns the record as it was."""
        user = await self._require(username)
        await self.users.delete(user.id)
        return user

    async def _require(self, username: str) -> UserRecord:
        found = await self.users.get(username.strip())
        if found is None:
            raise NotFoundError(f"user {username!r} does not exist")
        return found[0]
