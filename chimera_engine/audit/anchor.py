"""The audit chain's anchor outside the database, and its unambiguous entry encoding.

The database alone cannot prove that nothing was cut from the end of the log:
whoever can delete rows can also rewrite a head record kept beside them. The
*checkpoint* is a small file next to the database holding the entry count, the
hash of the last entry and the first entry of the current encoding, under an
HMAC keyed from the install secret. The writer checks the database's tail
against it before every append and refuses to chain onto a tail that disagrees;
verification checks it too, so a shortened, emptied or rolled-back log is found.

Entries are encoded field by field with a 4-byte length before each field,
so no byte a user controls (a name holding ``0x1f``, say) can move a boundary.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chimera_engine.errors import ChimeraError
from chimera_engine.store.records import AuditEntry

ENCODING_TAG = b"chimera-audit/2"


class AuditTamperError(ChimeraError):
    """The audit log disagrees with its anchor: rows were removed or rolled back."""

    code = "audit_tampered"


_LENGTH = struct.Struct(">I").pack


def encode_fields(*fields: str) -> bytes:
    """Length-prefixed encoding: distinct field tuples always give distinct bytes.

    >>> encode_fields("a\\x1fb", "c") != encode_fields("a", "b\\x1fc")
    True
    """
    return ENCODING_TAG + encode_body(fields)


def encode_body(fields: Iterable[str]) -> bytes:
    """:func:`encode_fields` without the leading tag: each field as its UTF-8 bytes
    after their length in 4 big-endian bytes."""
    parts: list[bytes] = []
    for text in fields:
        data = text.encode("utf-8", "surrogatepass")
        parts += (_LENGTH(len(data)), data)
    return b"".join(parts)


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """The log as last written: ``count`` entries ending in ``head``; entries from
    ``v2_from`` on use the length-prefixed encoding."""

    count: int
    head: str
    v2_from: int


class CheckpointFile:
    """Reads and atomically replaces the keyed checkpoint file (mode 0600)."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._key = key

    def _mac(self, cp: Checkpoint) -> str:
        message = encode_fields("checkpoint", str(cp.count), cp.head, str(cp.v2_from))
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def read(self) -> Checkpoint | None:
        """The checkpoint, None when there is no file; a damaged or forged one raises."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditTamperError(f"cannot read the audit checkpoint {self.path}: {exc}") from None
        try:
            data = json.loads(raw)
            cp = Checkpoint(
                count=int(data["count"]), head=str(data["head"]), v2_from=int(data["v2_from"])
            )
            mac = str(data["mac"])
        except (ValueError, KeyError, TypeError):
            raise AuditTamperError(f"the audit checkpoint {self.path} is damaged") from None
        if not hmac.compare_digest(self._mac(cp), mac):
            raise AuditTamperError(f"the audit checkpoint {self.path} was altered")
        return cp

    def write(self, cp: Checkpoint) -> None:
        """Replace the checkpoint atomically (write, fsync, rename)."""
        body = json.dumps(
            {"count": cp.count, "head": cp.head, "v2_from": cp.v2_from, "mac": self._mac(cp)},
            sort_keys=True,
        ).encode()
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)


class ExportSink:
    """Appends every committed entry as one JSON line to a file opened ``O_APPEND``
    (0600): a copy an operator ships elsewhere (or marks append-only with
    ``chattr +a``), against which the database can later be checked."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entries: Sequence[AuditEntry]) -> None:
        lines = "".join(
            json.dumps(
                {
                    "seq": e.seq,
                    "ts": e.ts,
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "outcome": e.outcome,
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                },
                sort_keys=True,
            )
            + "\n"
            for e in entries
        ).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, lines)
            os.fsync(fd)
        finally:
            os.close(fd)


def exported(path: Path) -> Iterator[tuple[int, str]]:
    """``(seq, hash)`` of every entry in an export file; a damaged line raises."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                yield int(data["seq"]), str(data["hash"])
            except (ValueError, KeyError, TypeError):
                raise AuditTamperError(f"{path}:{number}: not an audit export line") from None
