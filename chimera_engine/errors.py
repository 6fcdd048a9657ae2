"""Exceptions a caller of the engine can expect, each with a message fit for an operator."""

from __future__ import annotations


class ChimeraError(Exception):
    """Base class of every error the engine reports to its callers."""

    code = "error"


class ConfigError(ChimeraError):
    """The configuration is invalid; the message names the file and the key."""

    code = "config_error"


class StoreError(ChimeraError):
    """The database cannot be used (corrupted, locked, read-only or full)."""

    code = "store_error"


class DataDirError(ChimeraError):
    """The data directory cannot be created or written."""

    code = "data_dir_error"


class AuthenticationError(ChimeraError):
    """Credentials or a token were refused."""

    code = "unauthenticated"


class AccountLockedError(AuthenticationError):
    """Too many failed logins; ``retry_after`` says how many seconds to wait."""

    code = "account_locked"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyRequestsError(ChimeraError):
    """A source sent too much (e.g. bad credentials); ``retry_after`` seconds to wait."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDeniedError(ChimeraError):
    """The principal lacks the permission an operation needs."""

    code = "forbidden"


class ValidationError(ChimeraError):
    """Input was rejected (bad password, unknown role, malformed value)."""

    code = "invalid"


class NotFoundError(ChimeraError):
    """The object an operation names does not exist."""

    code = "not_found"


class ConflictError(ChimeraError):
    """The operation conflicts with the current state (e.g. the user already exists)."""

    code = "conflict"
