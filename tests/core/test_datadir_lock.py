"""One writer per data dir: the serve lock, and the CLI beside a serving engine."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chimera_engine.node import HeartNode
from chimera_engine.store.datadir_lock import (
    DataDirBusyError,
    acquire_datadir_lock,
    read_server,
    refuse_if_served,
)
from tests.conftest import make_settings


def test_lock_names_its_holder_and_is_exclusive(tmp_path: Path) -> None:
    assert read_server(tmp_path) is None
    lock = acquire_datadir_lock(tmp_path, api="http://127.0.0.1:9")
    holder = read_server(tmp_path)
    assert holder is not None and holder.pid == os.getpid()
    assert holder.api == "http://127.0.0.1:9" and holder.started.startswith("20")
    note = json.loads((tmp_path / "serve.lock").read_text())
    assert note == {"pid": os.getpid(), "api": "http://127.0.0.1:9", "started": holder.started}
    with pytest.raises(DataDirBusyError, match=rf"an engine \(pid {os.getpid()} at http"):
        acquire_datadir_lock(tmp_path)
    with pytest.raises(DataDirBusyError, match="use the console"):
        refuse_if_served(tmp_path, "use the console")
    lock.release()
    assert read_server(tmp_path) is None
    acquire_datadir_lock(tmp_path).release()


def test_a_garbage_lock_file_left_behind_does_not_block(tmp_path: Path) -> None:
    (tmp_path / "serve.lock").write_text('{"pid": 1, "api": null}')  # nobody holds the flock
    assert read_server(tmp_path) is None
    acquire_datadir_lock(tmp_path).release()


def test_lock_dies_with_its_process(tmp_path: Path) -> None:
    code = (
        "import sys, time; from chimera_engine.store.datadir_lock import acquire_datadir_lock;"
        f"acquire_datadir_lock({str(tmp_path)!r}); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        holder = read_server(tmp_path)
        assert holder is not None and holder.pid == proc.pid and holder.api is None
    finally:
        proc.kill()
        proc.wait()
    assert read_server(tmp_path) is None  # SIGKILL leaves no stale lock


async def test_two_engines_cannot_serve_one_data_dir(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    async with HeartNode(settings) as first:
        holder = read_server(settings.data_dir)
        assert holder is not None and holder.api == first.api.url  # type: ignore[union-attr]
        second = HeartNode(settings)
        with pytest.raises(DataDirBusyError, match=rf"pid {os.getpid()}"):
            await second.start()
        assert second.state == "failed"
        assert first.state == "running"
    assert read_server(settings.data_dir) is None
    async with HeartNode(settings):  # free again after a clean stop
        pass


def _chimera(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chimera_engine", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_beside_a_serving_engine(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chimera_engine", "serve", *data, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "chimera engine running" in proc.stdout.readline()
        holder = read_server(tmp_path)
        assert holder is not None and holder.pid == proc.pid
        assert holder.api is not None and holder.api.startswith("http://127.0.0.1:")
        db = sqlite3.connect(tmp_path / "chimera.sqlite3")
        before = db.execute("SELECT COUNT(*) FROM module_versions").fetchone()[0]
        module = tmp_path / "workspace" / "tools" / "log_parser.py"
        for command in (["tools", "reload", "log_parser"], ["tools", "rollback", "parse_log"]):
            refused = _chimera(*command, *data)
            assert refused.returncode == 2
            assert refused.stderr.strip() == (
                f"chimera: an engine (pid {proc.pid} at {holder.api}) serves this data dir; "
                f"use the console or its HTTP API for `chimera {' '.join(command[:2])}`, "
                "or stop it first"
            )
        status = json.loads(_chimera("status", *data).stdout)
        assert status["state"] == "ok" and status["served_by"]["pid"] == proc.pid
        second = _chimera("serve", *data, "--port", "0")
        assert second.returncode == 2 and f"pid {proc.pid}" in second.stderr
        assert module.exists()
        after = db.execute("SELECT COUNT(*) FROM module_versions").fetchone()[0]
        active = db.execute(
            "SELECT module, COUNT(*) FROM module_versions WHERE state = 'active' "
            "GROUP BY module HAVING COUNT(*) > 1"
        ).fetchall()
        db.close()
        assert after == before and active == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert read_server(tmp_path) is None
    assert _chimera("tools", "list", *data).returncode == 0  # free once the engine stopped
