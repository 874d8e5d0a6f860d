"""`earful bench-compare`: two runs' medians side by side, with a verdict per figure."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from earful.cli.main import app


def _run(path: Path, figures: list[tuple[str, str, float]], extra: tuple[bytes, ...] = ()) -> Path:
    lines = [
        orjson.dumps(
            {"suite": s, "name": n, "value": v, "unit": "posts/s", "spread": 0.04, "n": 10}
        )
        for s, n, v in figures
    ]
    path.write_bytes(b"\n".join([*lines, *extra]) + b"\n")
    return path


def test_runs_within_tolerance_agree(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.json", [("ingest", "sqlite", 1000.0), ("matcher", "10k", 50.0)])
    b = _run(tmp_path / "b.json", [("ingest", "sqlite", 1090.0), ("matcher", "10k", 46.0)])
    result = CliRunner().invoke(app, ["bench-compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "+9.0%" in result.output and "-8.0%" in result.output
    assert "2 of 2 figures within 10%" in result.output


def test_a_figure_that_moved_or_vanished_fails(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.json", [("ingest", "sqlite", 1000.0), ("ingest", "pg", 300.0)])
    b = _run(tmp_path / "b.json", [("ingest", "sqlite", 1200.0)])
    result = CliRunner().invoke(app, ["bench-compare", str(a), str(b)])
    assert result.exit_code == 1
    assert "+20.0%" in result.output and "moved" in result.output
    assert "only in one run: ingest: pg" in result.output
    wider = CliRunner().invoke(app, ["bench-compare", str(a), str(a), "--tolerance", "0.25"])
    assert wider.exit_code == 0, wider.output


def test_lines_without_a_value_are_skipped_and_bad_json_is_named(tmp_path: Path) -> None:
    step = orjson.dumps({"suite": "capacity", "rate": 500, "p99_ms": 12.0})
    a = _run(tmp_path / "a.json", [("ingest", "sqlite", 10.0)], (step,))
    result = CliRunner().invoke(app, ["bench-compare", str(a), str(a)])
    assert result.exit_code == 0, result.output
    assert "1 of 1 figures" in result.output
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"suite": "x", "name": "y", "value": 1}) + b"\n{oops\n")
    result = CliRunner().invoke(app, ["bench-compare", str(a), str(bad)])
    assert result.exit_code == 2
    assert "bad.json:2:" in result.output and "not JSON" in result.output
