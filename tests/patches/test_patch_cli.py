"""``chimera patch test FILE`` and the queue commands, as real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.patches.conftest_helpers import FIX, make_workspace
from tests.patches.server_proc import SERVER


def chimera(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chimera_engine", *args], capture_output=True, text=True, timeout=120
    )


def test_patch_test_prints_json_result(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path / "ws")
    common = ["--data-dir", str(tmp_path / "data"), "--workspace", str(workspace)]
    good = tmp_path / "fix.patch.md"
    good.write_text(FIX)
    done = chimera("patch", "test", str(good), "--module", "mathy", *common)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["fail_to_pass"][0]["outcome"] == "passed"
    assert "if b == 0" not in (workspace / "tools" / "mathy.py").read_text()  # nothing applied

    weak = tmp_path / "weak.patch.md"
    weak.write_text(FIX.replace("assert ratio(1, 0) == 0.0", "assert ratio(4, 2) == 2"))
    refused = chimera("patch", "test", str(weak), "--module", "mathy", *common)
    assert refused.returncode == 1
    assert "prove nothing" in json.loads(refused.stdout)["reason"]

    bad = tmp_path / "bad.md"
    bad.write_text("Happy to help! Could you share more details?")
    malformed = chimera("patch", "test", str(bad), "--module", "mathy", *common)
    assert malformed.returncode == 2 and "contains no patch" in malformed.stderr
    listed = chimera("patch", "list", *common)
    assert listed.returncode == 0 and "no patches" in listed.stdout
    tail = chimera("audit", "tail", "--action", "patch.", *common)
    assert tail.stdout.count("patch.test") == 2


def test_junk_answers_leave_a_trace_and_the_provider_test_names_the_fault(
    tmp_path: Path,
) -> None:
    """Against a model server process: `patch request` streams progress and, when every
    answer is junk, `patch attempts` lists each with its text and tokens; `provider test`
    says what is wrong with a server that is not the API."""

    workspace = make_workspace(tmp_path / "ws")
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps(["I would check the divisor first, then divide."]))
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--answers", str(answers), "--delay", "0.05"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().split()[1])
        url = f"http://127.0.0.1:{port}"
        config = tmp_path / "chimera.toml"
        config.write_text(
            f'[codegen]\nprovider = "openai-compatible"\nbase_url = "{url}/ok"\nmodel = "tiny"\n'
            "max_attempts = 2\n"
        )
        common = ["--data-dir", str(tmp_path / "data"), "--workspace", str(workspace)]
        common += ["--config", str(config)]
        asked = chimera("patch", "request", "mathy", "--note", "junk please", *common)
        assert asked.returncode == 1
        assert "gave no usable answer in 2 attempt(s)" in asked.stdout
        assert "tokens so far" in asked.stderr  # streamed progress, while the model writes
        assert "attempt 1: unparseable: the answer contains no patch" in asked.stderr
        assert "attempt 2: repeated" in asked.stderr

        listed = chimera("patch", "attempts", "--failed", *common)
        assert listed.returncode == 0, listed.stderr
        rows = listed.stdout.splitlines()[1:]
        assert len(rows) == 2 and all("local/tiny" in r for r in rows)
        assert "unparseable" in rows[1] and "repeated" in rows[0]
        first = rows[1].split()[0]
        shown = chimera("patch", "attempts", "--show", first, *common)
        assert "I would check the divisor first" in shown.stdout  # the model's text is kept
        assert "requested because: requested by local:" in shown.stdout
        assert '("junk please")' in shown.stdout
        assert "tokens: " in shown.stdout and "unknown in" not in shown.stdout

        ok = chimera("provider", "test", *common)
        assert ok.returncode == 0 and "answered" in ok.stdout
        html = chimera("provider", "test", "--base-url", f"{url}/html", *common)
        assert html.returncode == 1 and ": not_api: " in html.stdout and "HTML page" in html.stdout
        wrong = chimera("provider", "test", "--kind", "ollama", *common)
        assert wrong.returncode == 1 and ": wrong_api: " in wrong.stdout
    finally:
        server.terminate()
        server.wait()
