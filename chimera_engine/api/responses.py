"""JSON in, JSON out: one encoder and one error shape for every response."""

from __future__ import annotations

import dataclasses
import enum
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from chimera_engine.audit.anchor import AuditTamperError
from chimera_engine.errors import (
    AccountLockedError,
    AuthenticationError,
    ChimeraError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
    TooManyRequestsError,
    ValidationError,
)
from chimera_engine.swarm.errors import SwarmNotRunningError


def _default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    if isinstance(value, Path):
        return str(value)
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def ok(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=dumps(value), status=status, content_type="application/json", headers=headers
    )


def error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The one error shape: ``{"error": {"code": ..., "message": ...}}``."""
    return ok({"error": {"code": code, "message": message}}, status, headers)


STATUS: list[tuple[type[ChimeraError], int]] = [
    (AccountLockedError, 429),
    (TooManyRequestsError, 429),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (ValidationError, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
    (StoreError, 503),
    (AuditTamperError, 503),
    (SwarmNotRunningError, 503),
]


def from_exception(exc: ChimeraError) -> web.Response:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            headers = None
            if isinstance(exc, (AccountLockedError, TooManyRequestsError)):
                headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
            if status == 401:
                headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="chimera"'}
            return error(status, exc.code, str(exc), headers)
    return error(422, exc.code, str(exc))
