"""Start the engine far enough for signing in, and let the rest start behind the dialog.

The sign-in dialog needs only the store and the accounts; the workspace (tool imports
probed in a child process), the swarm's agents and the API take a second or more. The
console shows its dialog once :attr:`HeartNode.sign_in_ready` is set and opens the
main window only after the whole start has finished.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class StartableNode(Protocol):
    sign_in_ready: asyncio.Event

    async def start(self) -> None: ...


async def start_until_sign_in(node: StartableNode) -> asyncio.Task[None]:
    """Start ``node``; return as soon as accounts can sign in, with the task that
    finishes the start. Raises what the start raised if it failed before that."""
    rest: asyncio.Task[None] = asyncio.ensure_future(node.start())
    ready = asyncio.ensure_future(node.sign_in_ready.wait())
    try:
        await asyncio.wait({rest, ready}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not ready.done():
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
    if rest.done():
        rest.result()  # the start failed (or, with nothing else to start, finished)
    return rest
