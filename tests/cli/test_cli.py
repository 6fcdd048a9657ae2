"""The ``chimera`` command, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def chimera(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chimera_engine", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_user_add_reads_password_from_stdin_and_audits(tmp_path: Path) -> None:
    added = chimera(
        "--data-dir",
        str(tmp_path),
        "user",
        "add",
        "root-admin",
        "--role",
        "admin",
        stdin="correct horse battery\n",
    )
    assert added.returncode == 0, added.stderr
    assert "created user root-admin with role admin" in added.stdout
    listed = chimera("user", "list", "--data-dir", str(tmp_path))
    assert "root-admin" in listed.stdout
    assert "admin" in listed.stdout
    tail = chimera("audit", "tail", "--json", "--data-dir", str(tmp_path))
    entry = json.loads(tail.stdout.splitlines()[-1])
    assert entry["action"] == "user.create"
    assert entry["actor"].startswith("local:")
    assert "correct horse" not in tail.stdout


def test_user_add_refuses_weak_password(tmp_path: Path) -> None:
    result = chimera("--data-dir", str(tmp_path), "user", "add", "bob", stdin="password\n")
    assert result.returncode == 2
    assert result.stderr.strip() == "chimera: password is too common; choose another"


def test_user_add_without_password_on_stdin(tmp_path: Path) -> None:
    result = chimera("--data-dir", str(tmp_path), "user", "add", "bob")
    assert result.returncode == 2
    assert "no password given" in result.stderr


def test_status_prints_json(tmp_path: Path) -> None:
    result = chimera("status", "--data-dir", str(tmp_path))
    assert result.returncode == 0
    assert json.loads(result.stdout)["state"] == "running"


def test_invalid_config_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[api]\nport = 'http'\n")
    result = chimera("--config", str(config), "--data-dir", str(tmp_path), "status")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"chimera: {config}: api.port: expected an integer, got 'http'"
    ]


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chimera_engine",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert "chimera engine running" in proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "stopped" in out


def test_tools_commands(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    listed = chimera("tools", "list", *data)
    assert listed.returncode == 0
    assert "clean_csv" in listed.stdout and "(text: str, delimiter: str = ','" in listed.stdout
    called = chimera(
        "tools",
        "call",
        "validate_json",
        *data,
        "--args",
        '{"document": "{\\"a\\": 1}", "schema": {"required": ["b"]}}',
    )
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout)["errors"] == ["$: missing required property 'b'"]
    bad = chimera("tools", "call", "clean_csv", "--args", "[1]", *data)
    assert bad.returncode == 2 and "must be a JSON object" in bad.stderr

    module = tmp_path / "workspace" / "tools" / "log_parser.py"
    module.write_text(module.read_text() + "\n# tuned\n")
    assert "log_parser: v2 active" in chimera("tools", "reload", "log_parser", *data).stdout
    assert "v3 active" in chimera("tools", "rollback", "parse_log", *data).stdout
    versions = chimera("tools", "versions", "parse_log", *data).stdout
    assert "rollback" in versions and "from v1" in versions
    assert chimera("tools", "activate", "log_parser", "2", *data).returncode == 0
    module.write_text("def broken(:\n")
    refused = chimera("tools", "reload", "log_parser", *data)
    assert refused.returncode == 1 and "SyntaxError" in refused.stderr
    tail = chimera("audit", "tail", "--action", "tool.", *data).stdout
    assert "tool.rollback" not in tail  # rollback is recorded as a reload with origin rollback
    assert "tool.activate" in tail and "tool.reload" in tail and "tool.call" in tail


def test_detect_command(tmp_path: Path) -> None:
    rows = "\n".join(f"2026-01-01 00:{i // 60:02d}:{i % 60:02d},{10 + (i % 7)}" for i in range(300))
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "sub" / "cpu.csv").write_text("timestamp,value\n" + rows + "\n")
    done = chimera(
        "detect",
        str(tmp_path / "in"),
        "--output-dir",
        str(tmp_path / "out"),
        "--data-dir",
        str(tmp_path / "data"),
    )
    assert done.returncode == 0, done.stderr
    assert "points/s" in done.stdout
    out = (tmp_path / "out" / "sub" / "cpu.csv").read_text().splitlines()
    assert out[0] == "timestamp,value,anomaly_score" and len(out) == 301
    assert all(0.0 <= float(line.rsplit(",", 1)[1]) <= 1.0 for line in out[1:])
    (tmp_path / "in" / "sub" / "broken.csv").write_text("timestamp,value\nx,1\n")
    bad = chimera("detect", str(tmp_path / "in"), "-o", str(tmp_path / "out2"))
    assert bad.returncode == 2 and "broken.csv:2" in bad.stderr
    assert not (tmp_path / "out2").exists()
