"""The coordinator's connection to a Dask scheduler: connect, notice a loss, reconnect.

:class:`SchedulerLink` keeps one asynchronous ``distributed.Client``. It tries to
connect at start and, for as long as the swarm runs, again after every loss,
with exponential backoff (0.2 s doubling to ``max_backoff``). Failures are
logged at most once a minute (the first one at once, then a count), never once
per try. ``unreachable_since`` (wall clock) is set while there is no working
connection; the backend reads it for ``chimera swarm status`` and the Swarm panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)
_LOG_EVERY = 60.0


class RateLimitedLog:
    """Logs the first failure of a run at once, then at most one summary a minute."""

    def __init__(self, every: float = _LOG_EVERY) -> None:
        self.every = every
        self._last = -float("inf")
        self._suppressed = 0

    def failure(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            more = f" ({self._suppressed} more failures)" if self._suppressed else ""
            log.warning("%s%s", message, more)
            self._last, self._suppressed = now, 0
        else:
            self._suppressed += 1

    def recovered(self, message: str) -> None:
        log.warning(message)
        self._last, self._suppressed = -float("inf"), 0


class SchedulerLink:
    """One client, reconnected for ever. ``on_connect``/``on_loss`` run on the loop thread."""

    def __init__(
        self,
        address: str,
        connect_timeout: float,
        *,
        on_connect: Callable[[Any], Awaitable[None]],
        on_loss: Callable[[str], None],
        max_backoff: float = 5.0,
    ) -> None:
        self.address = address
        self.connect_timeout = connect_timeout
        self.max_backoff = max_backoff
        self._on_connect = on_connect
        self._on_loss = on_loss
        self.client: Any = None
        self.unreachable_since: float | None = time.time()
        self.last_error = "not connected yet"
        self.connects = 0
        self._log = RateLimitedLog()
        self._closing = False
        self._closing_clients: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.status == "running"

    async def connect_once(self) -> bool:
        distributed: Any = importlib.import_module("distributed")
        client = distributed.Client(
            self.address,
            asynchronous=True,
            timeout=f"{self.connect_timeout}s",
            set_as_default=False,
        )
        try:
            await asyncio.wait_for(client, self.connect_timeout + 1.0)
        except asyncio.CancelledError:  # the swarm stops while connecting
            client.status = "closed"  # nothing to close; its finaliser must not try
            raise
        except (OSError, TimeoutError) as exc:
            await _close(client)
            self.last_error = str(exc) or type(exc).__name__
            self._log.failure(
                f"swarm: the Dask scheduler at {self.address} is unreachable "
                f"({self.last_error}); retrying"
            )
            return False
        self.client = client
        try:
            await self._on_connect(client)
        except Exception as exc:  # lost again during setup
            self.lost(f"setup failed: {exc}")
            return False
        self.connects += 1
        if self.unreachable_since is not None and self.connects > 1:
            self._log.recovered(f"swarm: reconnected to the Dask scheduler at {self.address}")
        self.unreachable_since = None
        self.last_error = ""
        return True

    def lost(self, reason: str) -> None:
        """The connection is gone: drop the client (closed in the background)."""
        client, self.client = self.client, None
        if self.unreachable_since is None:
            self.unreachable_since = time.time()
        self.last_error = reason
        self._log.failure(f"swarm: lost the Dask scheduler at {self.address} ({reason})")
        if client is not None:
            closing = asyncio.get_running_loop().create_task(_close(client))
            self._closing_clients.add(closing)
            closing.add_done_callback(self._closing_clients.discard)
        self._on_loss(reason)

    async def run(self, check: Callable[[Any], Awaitable[None]], interval: float) -> None:
        """Reconnect with backoff while there is no client; ``check`` the client otherwise
        (it raises when the scheduler does not answer)."""
        delay = 0.2
        while not self._closing:
            if self.client is None:
                if not await self.connect_once():
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_backoff)
                    continue
                delay = 0.2
            await asyncio.sleep(interval)
            client = self.client
            if client is None or self._closing:
                continue
            if client.status != "running":
                self.lost(f"client {client.status}")
                continue
            try:
                await asyncio.wait_for(check(client), max(2.0, self.connect_timeout))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.client is client:
                    self.lost(str(exc) or type(exc).__name__)

    async def close(self) -> None:
        self._closing = True
        client, self.client = self.client, None
        if client is not None:
            await _close(client)
        await asyncio.gather(*self._closing_clients, return_exceptions=True)


async def _close(client: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), 5.0)
    # a client whose close did not finish (it never connected, or the scheduler is gone)
    # would try again from its finaliser, creating a coroutine nobody awaits during GC
    client.status = "closed"
