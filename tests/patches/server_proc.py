"""Start :mod:`llm_server` as a separate process and stop it again."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

SERVER = Path(__file__).with_name("llm_server.py")


@asynccontextmanager
async def llm_server(
    tmp_path: Path, answers: list[str] | None = None, delay: float = 0.0
) -> AsyncIterator[str]:
    """Yields ``http://127.0.0.1:<port>``; append ``/<mode>`` for a server of that kind."""
    args = [sys.executable, str(SERVER), "--delay", str(delay)]
    if answers is not None:
        file = tmp_path / "answers.json"
        file.write_text(json.dumps(answers))
        args += ["--answers", str(file)]
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.startswith(b"PORT "), line
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
