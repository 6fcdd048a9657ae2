"""The coordinator <-> agent wire protocol: one JSON object per line, over pipes.

Lean on purpose (the agent imports it). Messages are dicts with a type ``t``:

coordinator -> agent
  ``{"t": "welcome", "agent": id}``                    authenticated, start working
  ``{"t": "load", "key": k, "package": p, "tool": name, "modules": [...]}``
                                                       a tool bundle (source shipped once)
  ``{"t": "run", "id": attempt, "key": k, "tool": name, "inputs": {...}, "timeout": s}``
  ``{"t": "cancel", "id": attempt}``
  ``{"t": "stop"}``                                    finish running work, then exit
agent -> coordinator
  ``{"t": "hello", "agent": id, "pid": n, "key": node_api_key, ...}``   first message
  ``{"t": "hb", "busy": n, "rss": bytes}``            heartbeat
  ``{"t": "start", "id": attempt}``
  ``{"t": "done", "id": attempt, "ok": bool, "value": ..., "code": ..., "error": ..., "ms": x}``
  ``{"t": "bye"}``

:class:`Channel` coalesces every message sent during one loop iteration into one
write, which is what makes thousands of tasks per second cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

LINE_LIMIT = 64 * 1024 * 1024
"""Longest accepted line (a shipped source or a large result), in bytes."""

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode(message: dict[str, Any]) -> bytes:
    """One line; raises ``TypeError``/``ValueError`` for values JSON cannot carry."""
    return _encode(message).encode() + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """The message on ``line``; ``ValueError`` if it is not a JSON object."""
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("protocol message is not a JSON object")
    return message


class Channel:
    """Buffered writer: ``send`` queues, one ``write`` per loop iteration flushes."""

    def __init__(self, writer: asyncio.WriteTransport | asyncio.StreamWriter) -> None:
        self._writer = writer
        self._buffer: list[bytes] = []
        self._scheduled = False
        self.closed = False
        self.sent = 0

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(encode(message))

    def send_raw(self, line: bytes) -> None:
        if self.closed:
            return
        self._buffer.append(line)
        self.sent += 1
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer or self.closed:
            self._buffer.clear()
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        try:
            self._writer.write(data)
        except (ConnectionError, RuntimeError, OSError):
            self.closed = True

    def close(self) -> None:
        self.flush()
        self.closed = True
        with contextlib.suppress(ConnectionError, RuntimeError, OSError):
            self._writer.close()
