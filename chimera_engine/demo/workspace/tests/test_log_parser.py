from __future__ import annotations

from tools.log_parser import parse_log

LOG = """2026-11-24 10:00:00 INFO app: started
2026-11-24 10:00:01 ERROR db: connection refused
2026-11-24 10:00:02 ERROR db: connection refused
2026-11-24 10:00:03 WARNING app: slow request
garbage line
2026-11-24 10:00:04 ERROR api: timeout
"""


def test_counts_levels_and_top_errors() -> None:
    result = parse_log(LOG, top=1)
    assert result["levels"] == {"INFO": 1, "ERROR": 3, "WARNING": 1}
    assert result["top_errors"] == ["db: connection refused"]
    assert result["first"] == "2026-11-24 10:00:00"
    assert result["last"] == "2026-11-24 10:00:04"
    assert result["unparsed"] == 1


def test_empty_log() -> None:
    assert parse_log("")["levels"] == {}


def test_new_errors_are_reported_once() -> None:
    text = "2026-11-24 10:00:00 ERROR cache: eviction storm at node 7\n"
    assert parse_log(text)["new_errors"] == ["cache: eviction storm at node 7"]
    assert parse_log(text.upper())["new_errors"] == []
