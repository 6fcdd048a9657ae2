"""Accounts: creation with the password policy, login with lockout and back-off."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from chimera_engine.errors import (
    AccountLockedError,
    AuthenticationError,
    NotFoundError,
    ValidationError,
)
from chimera_engine.security.passwords import PasswordHasher, check_password_policy
from chimera_engine.security.permissions import Role, parse_role
from chimera_engine.security.throttle import LoginThrottle
from chimera_engine.store.records import UserRecord
from chimera_engine.store.users import UserRepository

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
INVALID_CREDENTIALS = "invalid username or password"


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
        throttle: LoginThrottle,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.users = users
        self.hasher = hasher
        self.throttle = throttle
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

    async def authenticate(
        self, username: str, password: str, *, source: str = "console"
    ) -> UserRecord:
        """The user whose password matches, or an error that does not reveal which part
        was wrong. A name that does not exist costs the same hash and is throttled the
        same way, so nothing tells whether it exists."""
        await self.throttle.check(username, source)
        found = await self.users.get(username.strip())
        stored = found[1] if found else None
        if not await self.hasher.verify_async(stored, password) or found is None:
            delay = await self.throttle.failed(username, source)
            if delay:
                raise AccountLockedError(
                    f"too many failed logins for this name from here; try again in {delay:.0f} s",
                    delay,
                )
            raise AuthenticationError(INVALID_CREDENTIALS)
        user, stored_hash = found
        await self.throttle.succeeded(username, source)
        if user.disabled:
            raise AuthenticationError("account is disabled; ask an administrator")
        updates: dict[str, object] = {
            "failed_logins": 0,
            "locked_until": 0.0,
            "last_login": self._clock(),
        }
        if self.hasher.needs_rehash(stored_hash):
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
