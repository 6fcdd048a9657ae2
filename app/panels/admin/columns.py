"""Columns of the administration tables: users, API keys, capabilities, rate limits."""

from __future__ import annotations

import time

from app.shared.formatting import format_count, format_relative, format_time
from app.shared.records import Column
from chimera_engine.security.apikeys import APIKey
from chimera_engine.security.capabilities import Capability
from chimera_engine.security.ratelimit import BucketStatus
from chimera_engine.store.records import UserRecord

GREEN = "#05603a"
RED = "#b42318"
AMBER = "#93370d"
GREY = "#7b8794"


def _when(ts: float | None) -> str:
    return format_time(ts) if ts else "never"


# -- users ---------------------------------------------------------------------------------
def user_state(user: UserRecord, now: float | None = None) -> str:
    """``active``, ``disabled`` or ``locked`` (too many failed sign-ins, for a while)."""
    if user.disabled:
        return "disabled"
    if user.locked_until > (time.time() if now is None else now):
        return "locked"
    return "active"


def _user_state_text(user: UserRecord) -> str:
    state = user_state(user)
    if state == "locked":
        return f"locked until {format_time(user.locked_until)[11:]}"
    return state


USER_COLUMNS: list[Column[UserRecord]] = [
    Column("Name", lambda u: u.username, 180),
    Column("Role", lambda u: u.role, 110),
    Column(
        "State",
        _user_state_text,
        150,
        colour=lambda u: {"active": GREEN, "disabled": GREY}.get(user_state(u), RED),
        tooltip=lambda u: f"{u.failed_logins} failed sign-ins since the last success",
    ),
    Column(
        "Last login",
        lambda u: format_relative(u.last_login),
        130,
        tooltip=lambda u: _when(u.last_login),
        sort=lambda u: u.last_login or 0.0,
    ),
    Column(
        "Password changed",
        lambda u: format_relative(u.password_changed_at),
        170,
        tooltip=lambda u: _when(u.password_changed_at),
        sort=lambda u: u.password_changed_at or 0.0,
    ),
    Column("Created", lambda u: format_time(u.created_at), 160, sort=lambda u: u.created_at),
]


# -- API keys ------------------------------------------------------------------------------
def key_state(key: APIKey) -> str:
    return key.state(time.time())


def _scopes(key: APIKey) -> str:
    return ", ".join(key.scopes) if key.scopes else f"all of {key.role.value}"


def _expiry(key: APIKey) -> str:
    if key.expires_at is None:
        return "never"
    return format_time(key.expires_at)[:16]


KEY_COLUMNS: list[Column[APIKey]] = [
    Column("Name", lambda k: k.name, 150, tooltip=lambda k: f"created by {k.created_by}"),
    Column("Prefix", lambda k: f"chk_{k.prefix}", 130),
    Column("Role", lambda k: k.role.value, 90),
    Column("Scopes", _scopes, 190, tooltip=_scopes),
    Column(
        "Rate limit",
        lambda k: f"{k.rate_limit:,}/min" if k.rate_limit else "default",
        96,
        right=True,
        sort=lambda k: k.rate_limit or 0,
    ),
    Column("Expires", _expiry, 140, sort=lambda k: k.expires_at or float("inf")),
    Column(
        "State",
        key_state,
        80,
        colour=lambda k: {"active": GREEN, "revoked": RED}.get(key_state(k), AMBER),
        tooltip=lambda k: f"revoked {_when(k.revoked_at)}" if k.revoked_at else key_state(k),
    ),
    Column(
        "Last used",
        lambda k: format_relative(k.last_used_at),
        110,
        tooltip=lambda k: _when(k.last_used_at),
        sort=lambda k: k.last_used_at or 0.0,
    ),
]


# -- capabilities --------------------------------------------------------------------------
CAPABILITY_COLUMNS: list[Column[Capability]] = [
    Column("Operation", lambda c: c.op, 140),
    Column("Object", lambda c: c.obj, 150),
    Column("Granted by", lambda c: c.subject, 130),
    Column("Role", lambda c: c.role.value, 90),
    Column("Issued", lambda c: format_time(c.issued_at), 150, sort=lambda c: c.issued_at),
    Column(
        "Expires",
        lambda c: format_relative(c.expires_at),
        100,
        tooltip=lambda c: format_time(c.expires_at),
        sort=lambda c: c.expires_at,
    ),
    Column("Use", lambda c: "single" if c.single_use else "reusable", 80),
    Column(
        "Token id",
        lambda c: c.jti[:12] + "…",
        120,
        tooltip=lambda c: c.jti + (f"\nattenuated from {c.parent}" if c.parent else ""),
    ),
]


# -- rate limits ---------------------------------------------------------------------------
def bucket_fill(bucket: BucketStatus) -> float:
    return bucket.tokens / bucket.burst if bucket.burst else 0.0


BUCKET_COLUMNS: list[Column[BucketStatus]] = [
    Column("Client", lambda b: b.client, 220),
    Column("Route class", lambda b: b.route_class, 110),
    Column(
        "Tokens left",
        lambda b: f"{b.tokens:,.1f} / {b.burst:,}",
        120,
        right=True,
        colour=lambda b: RED if bucket_fill(b) < 0.1 else None,
        sort=bucket_fill,
    ),
    Column(
        "Rate",
        lambda b: f"{b.rate_per_minute:,.0f}/min",
        100,
        right=True,
        sort=lambda b: b.rate_per_minute,
    ),
    Column(
        "Denied",
        lambda b: format_count(b.denied),
        80,
        right=True,
        colour=lambda b: RED if b.denied else None,
        sort=lambda b: b.denied,
    ),
]
