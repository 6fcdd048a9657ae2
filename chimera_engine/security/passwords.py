"""Password policy and argon2id hashing.

Hashing costs tens of milliseconds of CPU by design: call the ``*_async`` helpers
from the event loop so the work runs in an executor thread.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chimera_engine.errors import ValidationError

MIN_LENGTH = 8
MAX_LENGTH = 1024


@functools.cache
def common_passwords() -> frozenset[str]:
    """The list of passwords refused as too common (lower-cased)."""
    text = resources.files("chimera_engine.security").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_password_policy(password: str, username: str = "") -> None:
    """Raise :class:`ValidationError` saying why ``password`` is not acceptable.

    >>> check_password_policy("correct horse battery", "alice")
    >>> check_password_policy("short")
    Traceback (most recent call last):
    ...
    chimera_engine.errors.ValidationError: password must be at least 8 characters
    """
    if len(password) < MIN_LENGTH:
        raise ValidationError(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValidationError(f"password must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in common_passwords():
        raise ValidationError("password is too common; choose another")
    if username and lowered == username.lower():
        raise ValidationError("password must not be the user name")
    if len(set(password)) == 1:
        raise ValidationError("password must not repeat a single character")


class PasswordHasher:
    """argon2id with OWASP's minimum cost by default (19 MiB, 2 passes, 1 lane)."""

    def __init__(self, *, memory_kib: int = 19 * 1024, time_cost: int = 2, parallelism: int = 1):
        if memory_kib < 19 * 1024 or time_cost < 2:
            raise ValidationError("argon2 parameters below OWASP's minimum (19 MiB, t=2)")
        self._hasher = _Argon2(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self._executor: ThreadPoolExecutor | None = None
        # Made on first use (a hash costs ~0.1 s): not at start-up, on a verify thread.
        self._dummy_hash = ""

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches. With ``stored_hash=None`` it spends the same time."""
        try:
            if not stored_hash and not self._dummy_hash:
                self._dummy_hash = self._hasher.hash("chimera-dummy-password")
            return self._hasher.verify(stored_hash or self._dummy_hash, password) and bool(
                stored_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)

    def _worker(self) -> ThreadPoolExecutor:
        """The one thread that hashes. Each hash allocates ``memory_kib`` (19 MiB); the C
        library keeps that much cached in every thread's heap that ever hashed, so hashing
        on the loop's shared executor kept ~19 MiB more after each sign-in on a new thread.
        One thread keeps it once (and sign-ins queue, one hash at a time)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
        return self._executor

    async def hash_async(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker(), self.hash, password)

    async def verify_async(self, stored_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker(), self.verify, stored_hash, password)
