"""Provider API keys at rest: the OS keyring when it has a usable backend, else an
encrypted file in the data directory. Never plain text, never in the config file.

The file ``<data dir>/provider-keys.bin`` (mode 0600) holds one AES-256-GCM
sealed JSON object ``{kind: key}``. Its key is derived from the install secret
(``secret.key``, also 0600) for this one purpose, so a copy of the file alone
(a backup, a synced folder, a bug report) reveals nothing, and a file sealed by
another install fails to open with a clear error instead of yielding garbage.

Threading: every method does blocking I/O (a keyring call may wait on D-Bus):
call it from a worker thread (``asyncio.to_thread``), never on the event loop.

>>> import tempfile
>>> store = SecretStore(Path(tempfile.mkdtemp()), keyring=None)
>>> store.set("openai", "sk-test-123")
'encrypted file'
>>> store.get("openai"), store.has("anthropic")
('sk-test-123', False)
>>> store.delete("openai"), store.get("openai")
(True, None)
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chimera_engine.errors import ChimeraError
from chimera_engine.security.secrets import derive_key, load_or_create_secret

log = logging.getLogger(__name__)

SERVICE = "chimera"
FILE_NAME = "provider-keys.bin"
_MAGIC = b"CHK1"
_AAD = b"chimera/provider-keys/v1"
_NONCE = 12
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_MAX_KEY_CHARS = 4096


class SecretStoreError(ChimeraError):
    """The key file cannot be read, written or decrypted; the message says what to do."""

    code = "secret_store"


class Keyring(Protocol):
    """The part of a ``keyring`` backend the store uses."""

    def get_password(self, service: str, username: str) -> str | None: ...

    def set_password(self, service: str, username: str, password: str) -> None: ...

    def delete_password(self, service: str, username: str) -> None: ...


def system_keyring() -> Keyring | None:
    """The OS keyring backend, or None when the package is missing or only the
    "fail"/"null" backends exist (a headless server without a Secret Service)."""
    try:
        import keyring  # optional: the ``keyring`` extra
    except ImportError:
        return None
    try:
        backend: Keyring = keyring.get_keyring()
        if float(getattr(backend, "priority", 0)) <= 0:
            return None
    except Exception:  # a broken backend configuration means "no keyring"
        return None
    return backend


class SecretStore:
    """Save, load and delete provider API keys (``kind`` is the provider kind).

    ``keyring`` is the OS keyring to prefer; ``"auto"`` asks :func:`system_keyring`,
    None forces the encrypted file. Reads look in the keyring first, then the file
    (so keys stay found when a keyring appears later); writes go to the keyring
    when there is one, else to the file; deletes remove both.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        keyring: Keyring | Literal["auto"] | None = "auto",
        secret: bytes | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.path = data_dir / FILE_NAME
        self._keyring_arg = keyring
        self._resolved = not isinstance(keyring, str)
        self._secret = secret

    @property
    def _keyring(self) -> Keyring | None:
        """The keyring in use; looked up on first use (it may block: not in __init__)."""
        if not self._resolved:
            self._keyring_arg = system_keyring()
            self._resolved = True
        return None if isinstance(self._keyring_arg, str) else self._keyring_arg

    @property
    def backend(self) -> str:
        """Where new keys go, in operator words: ``"OS keyring"`` or ``"encrypted file"``."""
        return "OS keyring" if self._keyring is not None else "encrypted file"

    # -- the operations --------------------------------------------------------------------
    def get(self, kind: str) -> str | None:
        """The stored key for ``kind``, or None. SecretStoreError if the file is damaged."""
        _check_name(kind)
        if self._keyring is not None:
            try:
                value = self._keyring.get_password(SERVICE, kind)
            except Exception as exc:
                log.warning("the OS keyring failed to read %s: %s", kind, type(exc).__name__)
                value = None
            if isinstance(value, str) and value.strip():
                return value.strip()
        return self._read().get(kind)

    def has(self, kind: str) -> bool:
        return self.get(kind) is not None

    def set(self, kind: str, key: str) -> str:
        """Store ``key`` for ``kind``; returns where it went (see :attr:`backend`)."""
        _check_name(kind)
        key = key.strip()
        if not key:
            raise SecretStoreError("the API key is empty")
        if len(key) > _MAX_KEY_CHARS or any(ch.isspace() or not ch.isprintable() for ch in key):
            raise SecretStoreError("the API key must be one line of printable characters")
        if self._keyring is not None:
            try:
                self._keyring.set_password(SERVICE, kind, key)
            except Exception as exc:
                raise SecretStoreError(
                    f"the OS keyring refused to store the key ({type(exc).__name__})"
                ) from None
            self._drop_from_file(kind)  # one place per key: no stale copy left behind
            return self.backend
        entries = self._read()
        entries[kind] = key
        self._write(entries)
        return self.backend

    def delete(self, kind: str) -> bool:
        """Remove ``kind``'s key everywhere; True if one was stored."""
        _check_name(kind)
        removed = False
        if self._keyring is not None:
            try:
                if self._keyring.get_password(SERVICE, kind) is not None:
                    self._keyring.delete_password(SERVICE, kind)
                    removed = True
            except Exception as exc:
                raise SecretStoreError(
                    f"the OS keyring refused to delete the key ({type(exc).__name__})"
                ) from None
        return self._drop_from_file(kind) or removed

    def lookup(self, service: str, username: str) -> str | None:
        """``(service, kind) -> key`` in the shape the provider factory expects.

        A damaged file reads as "no key" here (the provider then says which key is
        missing); the settings dialog reports the damage itself through :meth:`get`.
        """
        try:
            return self.get(username)
        except SecretStoreError as exc:
            log.warning("%s", exc)
            return None

    # -- the encrypted file ----------------------------------------------------------------
    def _cipher(self) -> AESGCM:
        if self._secret is None:
            self._secret = load_or_create_secret(self.data_dir / "secret.key")
        return AESGCM(derive_key(self._secret, "provider-keys"))

    def _read(self) -> dict[str, str]:
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretStoreError(f"cannot read {self.path}: {exc.strerror}") from None
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); set to 0600", self.path, mode)
            self.path.chmod(0o600)
        try:
            blob = self.path.read_bytes()
        except OSError as exc:
            raise SecretStoreError(f"cannot read {self.path}: {exc.strerror}") from None
        damaged = SecretStoreError(
            f"{self.path} cannot be decrypted: it is damaged or was sealed with another "
            "secret.key. Delete it and store the provider keys again."
        )
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _NONCE + 16:
            raise damaged
        nonce = blob[len(_MAGIC) : len(_MAGIC) + _NONCE]
        try:
            plain = self._cipher().decrypt(nonce, blob[len(_MAGIC) + _NONCE :], _AAD)
            data: Any = json.loads(plain)
        except (InvalidTag, ValueError):
            raise damaged from None
        if not isinstance(data, dict):
            raise damaged
        return {str(k): str(v) for k, v in data.items()}

    def _write(self, entries: dict[str, str]) -> None:
        nonce = secrets.token_bytes(_NONCE)
        plain = json.dumps(entries, sort_keys=True).encode()
        blob = _MAGIC + nonce + self._cipher().encrypt(nonce, plain, _AAD)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".provider-keys.", dir=self.data_dir)
        except OSError as exc:
            raise SecretStoreError(f"cannot write in {self.data_dir}: {exc.strerror}") from None
        try:
            os.fchmod(fd, 0o600)  # mkstemp makes it 0600 already; say so explicitly
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise SecretStoreError(f"cannot write {self.path}: {exc.strerror}") from None

    def _drop_from_file(self, kind: str) -> bool:
        if not self.path.exists():
            return False
        entries = self._read()
        if kind not in entries:
            return False
        del entries[kind]
        if entries:
            self._write(entries)
        else:
            self.path.unlink(missing_ok=True)
        return True


def _check_name(kind: str) -> None:
    if not _NAME.match(kind):
        raise SecretStoreError(f"{kind!r} is not a provider name")
