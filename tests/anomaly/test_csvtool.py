"""``chimera detect``: outputs mirror inputs, causal, validated up front, atomic."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from chimera_engine.anomaly import csvtool
from chimera_engine.anomaly.csvtool import DetectInputError, detect_paths, score_values
from tests.anomaly import synthetic


def write_csv(path: Path, values: np.ndarray, start: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["timestamp,value"]
    for i, v in enumerate(values.tolist()):
        lines.append(f"2024-01-01 {(start + i) // 60 % 24:02d}:{(start + i) % 60:02d}:00,{v}")
    path.write_text("\n".join(lines) + "\n")


def read_scores(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score"
    return lines[1:], np.array([float(line.rsplit(",", 1)[1]) for line in lines[1:]])


def test_directory_tree_mirrored_and_scores_match_live(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write_csv(src / "a.csv", synthetic.spike()[:300])
    write_csv(src / "sub" / "b.csv", synthetic.noise(1)[:200])
    report = detect_paths([src], tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in report.outputs) == [
        "a.csv",
        "sub/b.csv",
    ]
    assert report.points == 500 and report.points_per_second > 0
    rows, scores = read_scores(tmp_path / "out" / "a.csv")
    assert len(rows) == 300 and np.all((scores >= 0) & (scores <= 1))
    assert rows[5].split(",")[:2] == (src / "a.csv").read_text().splitlines()[6].split(",")
    times = [1704067200.0 + 60 * i for i in range(300)]  # 2024-01-01 00:00 UTC onwards
    np.testing.assert_allclose(scores, np.round(score_values(synthetic.spike()[:300], times), 6))


def test_causal_prefix(tmp_path: Path) -> None:
    x = synthetic.spike()
    write_csv(tmp_path / "full.csv", x)
    write_csv(tmp_path / "part.csv", x[:470])
    detect_paths([tmp_path / "full.csv", tmp_path / "part.csv"], tmp_path / "out")
    _, full = read_scores(tmp_path / "out" / "full.csv")
    _, part = read_scores(tmp_path / "out" / "part.csv")
    np.testing.assert_array_equal(part, full[:470])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("time,value\n1,2\n", ":1: header"),
        ("timestamp,value\n1,2\n2,abc\n", ":3: bad value"),
        ("timestamp,value\n1,2\nyesterday,3\n", ":3: bad timestamp"),
        ("timestamp,value\n1,2,3\n", ":2: expected 2 columns"),
    ],
)
def test_malformed_rows_name_file_and_line_and_write_nothing(
    tmp_path: Path, body: str, message: str
) -> None:
    write_csv(tmp_path / "in" / "good.csv", synthetic.noise()[:50])
    (tmp_path / "in" / "zbad.csv").write_text(body)
    with pytest.raises(DetectInputError, match=message) as info:
        detect_paths([tmp_path / "in"], tmp_path / "out")
    assert "zbad.csv" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_nan_values_and_epoch_timestamps(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text(
        "timestamp,value\n1700000000,1.0\n1700000060,nan\n1700000120,2\n"
    )
    detect_paths([tmp_path / "e.csv"], tmp_path / "out")
    rows, scores = read_scores(tmp_path / "out" / "e.csv")
    assert rows[1].startswith("1700000060,nan,") and scores[1] == 0.0


def test_cli_hooks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path / "x.csv", synthetic.noise()[:100])
    parser = argparse.ArgumentParser()
    csvtool.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["detect", str(tmp_path / "x.csv"), "--output-dir", str(tmp_path / "o")]
    )
    assert csvtool.run(args) == 0
    assert "points/s" in capsys.readouterr().out
    args = parser.parse_args(["detect", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o")])
    assert csvtool.run(args) == 2
    assert "no such file" in capsys.readouterr().err
