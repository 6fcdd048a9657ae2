"""The agent process: ``python -m chimera_engine.swarm.agent``.

Started by the coordinator with pipes for stdin/stdout and its identity in the
environment (``CHIMERA_AGENT_ID``, ``CHIMERA_AGENT_ROLE``,
``CHIMERA_AGENT_CONCURRENCY``, ``CHIMERA_HEARTBEAT``) plus a node-role API key
in ``CHIMERA_NODE_KEY``. It says hello with that key, waits to be welcomed,
then runs the tool versions the coordinator ships (see :mod:`.protocol`),
``concurrency`` at a time: async tools on its loop, sync tools in threads.

What a tool prints goes to stderr: the protocol keeps the original stdout to
itself. The agent exits when its stdin closes (the coordinator is gone), when
told to stop (after finishing running work), or when refused. It ignores
SIGINT so a Ctrl-C in the coordinator's terminal leaves stopping to the
coordinator. Imports are kept minimal so spawn-to-ready stays fast.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import socket
import sys
from typing import Any

from chimera_engine.swarm.execution import NODE_KEY_ENV, ToolCache, ToolFailure, run_tool
from chimera_engine.swarm.protocol import LINE_LIMIT, Channel, decode, encode

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


class Agent:
    def __init__(self, channel: Channel, agent_id: str, concurrency: int, heartbeat: float) -> None:
        self.channel = channel
        self.id = agent_id
        self.concurrency = concurrency
        self.heartbeat = heartbeat
        self.cache = ToolCache()
        self.pool = concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="tool")
        self.loader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="loader")
        self.slots = asyncio.Semaphore(concurrency)
        self.running: dict[str, asyncio.Task[None]] = {}
        self.stuck = 0
        self.stopping = False
        self.idle = asyncio.Event()
        self.idle.set()

    def handle(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "run":
            attempt = str(message["id"])
            task = asyncio.get_running_loop().create_task(self.run(message))
            self.running[attempt] = task
            self.idle.clear()
            task.add_done_callback(lambda _t: self._finished(attempt))
        elif kind == "load":
            self.cache.add(message)
        elif kind == "cancel":
            found = self.running.get(str(message.get("id")))
            if found is not None:
                found.cancel()
        elif kind == "stop":
            self.stopping = True

    def _finished(self, attempt: str) -> None:
        self.running.pop(attempt, None)
        if not self.running:
            self.idle.set()

    async def run(self, message: dict[str, Any]) -> None:
        attempt = message["id"]
        async with self.slots:
            self.channel.send({"t": "start", "id": attempt})
            try:
                key = str(message["key"])
                tv = self.cache.cached(key)
                if tv is None:
                    loop = asyncio.get_running_loop()
                    tv = await loop.run_in_executor(self.loader, self.cache.tool, key)
                reply = await run_tool(
                    tv, dict(message["inputs"]), float(message["timeout"]), self.pool
                )
            except asyncio.CancelledError:
                reply = {"ok": False, "code": "cancelled", "error": "cancelled by the coordinator"}
            except ToolFailure as exc:
                reply = {"ok": False, "code": exc.code, "error": str(exc)}
            if reply.get("stuck"):
                self.stuck += 1
            reply["t"] = "done"
            reply["id"] = attempt
            try:
                line = encode(reply)
            except (TypeError, ValueError) as exc:
                line = _failure(attempt, "not_json", f"the result is not a JSON value: {exc}")
            if len(line) > LINE_LIMIT - 4096:
                line = _failure(
                    attempt,
                    "too_large",
                    f"the result is {len(line)} bytes; the limit is {LINE_LIMIT - 4096}",
                )
            self.channel.send_raw(line)

    async def beat(self) -> None:
        while True:
            self.channel.send(
                {"t": "hb", "busy": len(self.running), "stuck": self.stuck, "rss": rss_bytes()}
            )
            await asyncio.sleep(self.heartbeat)


def _failure(attempt: str, code: str, error: str) -> bytes:
    return encode({"t": "done", "id": attempt, "ok": False, "code": code, "error": error})


async def _pipes() -> tuple[asyncio.StreamReader, Channel]:
    """Take the protocol's ends of stdin/stdout; point fds 0/1 at /dev/null and stderr."""
    loop = asyncio.get_running_loop()
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(proto_in, "rb", buffering=0)
    )
    transport, _ = await loop.connect_write_pipe(
        asyncio.Protocol, os.fdopen(proto_out, "wb", buffering=0)
    )
    return reader, Channel(transport)


async def main() -> int:
    env = os.environ
    agent_id = env.get("CHIMERA_AGENT_ID", f"agent-{os.getpid()}")
    concurrency = max(1, int(env.get("CHIMERA_AGENT_CONCURRENCY", "1")))
    reader, channel = await _pipes()
    agent = Agent(channel, agent_id, concurrency, float(env.get("CHIMERA_HEARTBEAT", "0.5")))
    channel.send(
        {
            "t": "hello",
            "agent": agent_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "role": env.get("CHIMERA_AGENT_ROLE", ""),
            "concurrency": concurrency,
            "key": env.get(NODE_KEY_ENV, ""),
            "python": sys.version.split()[0],
        }
    )
    first = await reader.readline()
    if not first or decode(first).get("t") != "welcome":
        return 3
    beat = asyncio.get_running_loop().create_task(agent.beat())
    try:
        while not agent.stopping:
            line = await reader.readline()
            if not line:
                return 0  # the coordinator is gone: nothing to report to
            agent.handle(decode(line))
        while agent.running and len(agent.running) > agent.stuck:
            await asyncio.wait(tuple(agent.running.values()), timeout=0.1)
        channel.send({"t": "bye"})
        channel.flush()
        await asyncio.sleep(0)
        return 0
    finally:
        beat.cancel()


def run() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = asyncio.run(main())
    sys.stderr.flush()
    os._exit(code)  # never wait for stuck tool threads


if __name__ == "__main__":
    run()
