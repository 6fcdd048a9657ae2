"""The per-install secret: 32 random bytes in ``<data dir>/secret.key`` (mode 0600).

Keys for JWT signing and the audit chain are derived from it, one per purpose,
so no key is ever used for two things.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from chimera_engine.errors import DataDirError

log = logging.getLogger(__name__)

_SECRET_BYTES = 32


def load_or_create_secret(path: Path) -> bytes:
    """Read the install secret, creating it (0600) on first run.

    A file readable by others is tightened to 0600 and a warning logged.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise DataDirError(f"cannot create {path}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(_SECRET_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); set to 0600", path, mode)
            path.chmod(0o600)
        text = path.read_text().strip()
    except OSError as exc:
        raise DataDirError(f"cannot read {path}: {exc.strerror}") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < _SECRET_BYTES:
        raise DataDirError(f"{path} is damaged (expected {_SECRET_BYTES * 2} hex digits)")
    return secret


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one ``purpose`` (e.g. ``"jwt"``, ``"audit"``) derived from the secret."""
    return hmac.new(secret, f"chimera/{purpose}/v1".encode(), hashlib.sha256).digest()
