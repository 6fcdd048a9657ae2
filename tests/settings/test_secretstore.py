"""The provider key store: the OS keyring when usable, else an encrypted 0600 file."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from chimera_engine.security.secretstore import (
    FILE_NAME,
    SecretStore,
    SecretStoreError,
    system_keyring,
)

KEY = "sk-test-SECRETSECRET0123456789"


class MemoryKeyring:
    """A keyring backend kept in a dict (the store's side of the keyring protocol)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


def test_without_a_keyring_backend_keys_go_to_an_encrypted_0600_file(tmp_path: Path) -> None:
    # this machine has only keyring's "fail" backend: the store must notice and use the file
    assert system_keyring() is None
    store = SecretStore(tmp_path)
    assert store.backend == "encrypted file"
    assert store.set("openai", f"  {KEY}\n") == "encrypted file"
    path = tmp_path / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    blob = path.read_bytes()
    assert KEY.encode() not in blob and b"SECRETSECRET" not in blob and b"openai" not in blob
    assert SecretStore(tmp_path).get("openai") == KEY  # a new store (a restart) reads it back
    store.set("anthropic", "sk-ant-other")
    assert (store.get("openai"), store.get("anthropic"), store.get("local")) == (
        KEY,
        "sk-ant-other",
        None,
    )
    assert store.delete("openai") is True and store.delete("openai") is False
    assert store.get("openai") is None and store.has("anthropic")
    store.delete("anthropic")
    assert not path.exists()  # the last key gone: no file left behind


def test_a_file_readable_by_others_is_tightened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SecretStore(tmp_path, keyring=None)
    store.set("openai", KEY)
    (tmp_path / FILE_NAME).chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert store.get("openai") == KEY
    assert stat.S_IMODE((tmp_path / FILE_NAME).stat().st_mode) == 0o600
    assert "readable by others" in caplog.text and KEY not in caplog.text


def test_another_install_secret_or_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    SecretStore(tmp_path, keyring=None).set("openai", KEY)
    other = SecretStore(tmp_path, keyring=None, secret=b"\x01" * 32)
    with pytest.raises(SecretStoreError, match=r"cannot be decrypted.*another secret\.key"):
        other.get("openai")
    assert other.lookup("chimera", "openai") is None  # the provider then asks for a key

    path = tmp_path / FILE_NAME
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(SecretStoreError, match="damaged"):
        SecretStore(tmp_path, keyring=None).get("openai")
    path.write_bytes(b"not a key file")
    with pytest.raises(SecretStoreError, match="Delete it and store the provider keys again"):
        SecretStore(tmp_path, keyring=None).get("openai")


def test_bad_names_and_keys_are_refused(tmp_path: Path) -> None:
    store = SecretStore(tmp_path, keyring=None)
    for bad in ("", "   ", "two words", "line\nbreak", "x" * 5000):
        with pytest.raises(SecretStoreError):
            store.set("openai", bad)
    with pytest.raises(SecretStoreError, match="not a provider name"):
        store.set("../etc", KEY)
    assert not (tmp_path / FILE_NAME).exists()


def test_a_usable_keyring_is_preferred_and_file_copies_are_dropped(tmp_path: Path) -> None:
    SecretStore(tmp_path, keyring=None).set("openai", "sk-old-from-file")
    ring = MemoryKeyring()
    store = SecretStore(tmp_path, keyring=ring)
    assert store.backend == "OS keyring"
    assert store.get("openai") == "sk-old-from-file"  # keys saved before a keyring existed
    assert store.set("openai", KEY) == "OS keyring"
    assert ring.entries == {("chimera", "openai"): KEY}
    assert not (tmp_path / FILE_NAME).exists()
    assert store.lookup("chimera", "openai") == KEY
    assert store.delete("openai") is True and ring.entries == {}
