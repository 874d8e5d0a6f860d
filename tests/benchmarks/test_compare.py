"""`bench/compare.py`: two runs' figures side by side, with a verdict per figure.

A figure with a same-run baseline is judged on its ratio to it (host drift cancels out),
the others on their value; ``--by value`` judges every figure on its value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner, Result

from bench.compare import app, compare, load, ratio_of
from bench.host import REFERENCE, around

Fig = tuple[str, str, float] | tuple[str, str, float, float | None]


def _run(path: Path, figures: list[Fig], extra: tuple[bytes, ...] = ()) -> Path:
    lines = []
    for s, n, v, *rest in figures:
        doc: dict[str, Any] = {
            "suite": s,
            "name": n,
            "value": v,
            "unit": "posts/s",
            "spread": 0.04,
            "n": 10,
            "higher_is_better": True,
        }
        if rest:
            doc["baseline"] = rest[0]
        lines.append(orjson.dumps(doc))
    path.write_bytes(b"\n".join([*lines, *extra]) + b"\n")
    return path


def _invoke(*args: str, columns: int | None = None) -> Result:
    env = {"COLUMNS": str(columns)} if columns else None
    return CliRunner().invoke(app, list(args), env=env)


def _json(result: Result) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    docs = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return docs[:-1], docs[-1]


def test_runs_within_tolerance_agree(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.json", [("ingest", "sqlite", 1000.0), ("matcher", "10k", 50.0)])
    b = _run(tmp_path / "b.json", [("ingest", "sqlite", 1090.0), ("matcher", "10k", 46.0)])
    result = _invoke(str(a), str(b))
    assert result.exit_code == 0, result.output
    assert "+9.0%" in result.output and "-8.0%" in result.output
    assert "2 of 2 figures within 10%" in result.output


def test_a_figure_that_moved_or_vanished_fails(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.json", [("ingest", "sqlite", 1000.0), ("ingest", "pg", 300.0)])
    b = _run(tmp_path / "b.json", [("ingest", "sqlite", 1200.0)])
    result = _invoke(str(a), str(b))
    assert result.exit_code == 1
    assert "+20.0%" in result.output and "moved" in result.output
    assert "only in one run: ingest: pg" in result.output
    wider = _invoke(str(a), str(a), "--tolerance", "0.25")
    assert wider.exit_code == 0, wider.output


def test_host_drift_moves_the_value_but_not_the_ratio(tmp_path: Path) -> None:
    # The host ran 40 % faster in the second run: subject and baseline both sped up.
    a = _run(tmp_path / "a.json", [("ingest", "sqlite", 10_000.0, 500.0)])
    b = _run(tmp_path / "b.json", [("ingest", "sqlite", 14_000.0, 14_000.0 / 20.4)])
    by_ratio = _invoke(str(a), str(b))
    assert by_ratio.exit_code == 0, by_ratio.output
    assert "judged by ratio" in by_ratio.output
    assert "+40.0%" in by_ratio.output  # the value's change is shown beside the ratio's
    assert "20× → 20.4×" in by_ratio.output and "+2.0%" in by_ratio.output
    assert "same" in by_ratio.output and "1 judged by ratio, 0 by value" in by_ratio.output

    by_value = _invoke(str(a), str(b), "--by", "value")
    assert by_value.exit_code == 1, by_value.output
    assert "moved" in by_value.output and "0 judged by ratio, 1 by value" in by_value.output

    diffs, summary = _json(_invoke(str(a), str(b), "--json"))
    assert summary["by"] == "ratio" and summary["passed"] is True
    assert summary["judged_by_ratio"] == 1 and summary["judged_by_value"] == 0
    (d,) = diffs
    assert d["judged_by"] == "ratio" and d["within"] is True
    assert d["change"] == pytest.approx(0.02) and d["ratio_change"] == pytest.approx(0.02)
    assert d["value_change"] == pytest.approx(0.40)

    result = _invoke(str(a), str(b), "--json", "--by", "value")
    assert result.exit_code == 1
    diffs, summary = _json(result)
    assert summary["by"] == "value" and summary["passed"] is False
    assert summary["moved"] == [["ingest", "sqlite", "value"]]
    assert diffs[0]["judged_by"] == "value" and diffs[0]["change"] == pytest.approx(0.40)


def test_a_ratio_that_moved_fails_even_when_the_value_kept_still(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.json", [("inbox", "first page", 1000.0, 20.0)])
    b = _run(tmp_path / "b.json", [("inbox", "first page", 1000.0, 30.0)])
    result = _invoke(str(a), str(b), "--json")
    assert result.exit_code == 1
    diffs, summary = _json(result)
    assert summary["moved"] == [["inbox", "first page", "ratio"]]
    assert diffs[0]["value_change"] == 0.0 and diffs[0]["change"] == pytest.approx(-1 / 3)


def test_figures_without_their_own_baseline_are_judged_on_the_value(tmp_path: Path) -> None:
    # No baseline; a baseline in one run only; the figure as its own baseline (1 worker).
    a = _run(
        tmp_path / "a.json",
        [("p", "no base", 100.0), ("p", "one run", 100.0, 10.0), ("w", "1 worker", 50.0, 50.0)],
    )
    b = _run(
        tmp_path / "b.json",
        [("p", "no base", 104.0), ("p", "one run", 130.0), ("w", "1 worker", 70.0, 70.0)],
    )
    result = _invoke(str(a), str(b), "--json")
    assert result.exit_code == 1
    diffs, summary = _json(result)
    assert [d["judged_by"] for d in diffs] == ["value", "value", "value"]
    assert [d["within"] for d in diffs] == [True, False, False]
    assert summary["judged_by_value"] == 3


def test_lower_is_better_ratio_is_baseline_over_value() -> None:
    doc = {"value": 10.0, "baseline": 40.0, "higher_is_better": False}
    assert ratio_of(doc) == 4.0
    assert ratio_of({"value": 10.0, "baseline": 40.0}) == 0.25
    assert ratio_of({"value": 10.0, "baseline": None}) is None
    assert ratio_of({"value": 10.0, "baseline": 0}) is None


def test_the_ratio_a_run_wrote_is_the_one_judged() -> None:
    # Timed in rounds, the run writes the median of the rounds' ratios, which differs from
    # value / baseline (two medians, possibly of different rounds).
    doc = {"value": 100.0, "baseline": 40.0, "ratio": 2.4}
    assert ratio_of(doc) == 2.4
    assert ratio_of({"value": 100.0, "baseline": 40.0, "ratio": None}) == 2.5
    assert ratio_of({"value": 70.0, "baseline": 70.0, "ratio": 1.0}) is None  # its own baseline


def test_lines_without_a_value_are_skipped_and_bad_json_is_named(tmp_path: Path) -> None:
    step = orjson.dumps({"suite": "capacity", "rate": 500, "p99_ms": 12.0})
    a = _run(tmp_path / "a.json", [("ingest", "sqlite", 10.0)], (step,))
    result = _invoke(str(a), str(a))
    assert result.exit_code == 0, result.output
    assert "1 of 1 figures" in result.output
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps({"suite": "x", "name": "y", "value": 1}) + b"\n{oops\n")
    result = _invoke(str(a), str(bad))
    assert result.exit_code == 2
    assert "bad.json:2:" in result.output and "not JSON" in result.output
    array = tmp_path / "array.json"
    array.write_bytes(b"[1, 2]\n")
    result = _invoke(str(a), str(array))
    assert result.exit_code == 2 and "array.json:1: expected a JSON object" in result.output
    result = _invoke(str(a), str(tmp_path / "absent.json"))
    assert result.exit_code == 2 and "absent.json" in result.output


def test_missing_figures_in_either_run_are_named_in_the_json(tmp_path: Path) -> None:
    a = _run(tmp_path / "a.json", [("s", "both", 1.0), ("s", "first only", 1.0)])
    b = _run(tmp_path / "b.json", [("s", "both", 1.0), ("t", "second only", 1.0)])
    first, second = load(a), load(b)
    diffs, only = compare(first, second)
    assert [d.name for d in diffs] == ["both"]
    assert only == [("s", "first only"), ("t", "second only")]
    result = _invoke(str(a), str(b), "--json")
    assert result.exit_code == 1
    _, summary = _json(result)
    assert summary["only_in_one_run"] == [["s", "first only"], ["t", "second only"]]
    assert summary["within"] == summary["figures"] == 1 and summary["passed"] is False


def _host(speed: float, spread: float, *suites: tuple[str, float]) -> tuple[bytes, ...]:
    docs = [{"suite": "host", "name": REFERENCE, "value": speed, "spread": spread}]
    docs += [{"suite": "host", "name": around(s), "value": v} for s, v in suites]
    return tuple(orjson.dumps({"unit": "ops/s", "baseline": None, **d}) for d in docs)


def test_the_host_speed_change_is_printed_above_the_table_and_not_judged(
    tmp_path: Path,
) -> None:
    figs: list[Fig] = [("ingest", "sqlite", 10_000.0, 500.0)]
    a = _run(tmp_path / "a.json", figs, _host(1000.0, 0.05, ("ingest", 1000.0)))
    b = _run(tmp_path / "b.json", figs, _host(1400.0, 0.30, ("ingest", 1500.0)))
    result = _invoke(str(a), str(b))
    assert result.exit_code == 0, result.output  # the host moved 40 %: not a project figure
    host_line, around_line = result.output.splitlines()[:2]
    assert "host speed" in host_line and "1,000 → 1,400 ops/s (+40.0%)" in host_line
    assert "drift within each run 5%/30%" in host_line
    assert around_line == "host speed around each suite: ingest +50%"
    assert "1 of 1 figures" in result.output and "│ host" not in result.output
    _, summary = _json(_invoke(str(a), str(b), "--json"))
    assert summary["host"]["change"] == pytest.approx(0.4)
    assert summary["host"]["suites"] == {"ingest": pytest.approx(0.5)}
    assert summary["figures"] == 1

    # A run from before the probe: no host line, and its absence is not a missing figure.
    old = _run(tmp_path / "old.json", figs)
    result = _invoke(str(old), str(b))
    assert result.exit_code == 0, result.output
    assert "host speed" not in result.output and "only in one run" not in result.output
    _, summary = _json(_invoke(str(old), str(b), "--json"))
    assert summary["host"] is None


@pytest.mark.parametrize("columns", [40, 80, 300])
def test_the_table_does_not_depend_on_the_terminal_width(tmp_path: Path, columns: int) -> None:
    long = "match 10,000 queries over 100,000 posts (baseline: 1 regex per query)"
    a = _run(tmp_path / "a.json", [("matcher", long, 100_000.0, 35.0)])
    b = _run(tmp_path / "b.json", [("matcher", long, 130_000.0, 44.0)])
    result = _invoke(str(a), str(b), columns=columns)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    cells = ("matcher", "100,000 posts/s", "130,000", "+30.0%", "2,857× → 2,955×", "+3.4%")
    for cell in (*cells, "ratio", "same"):
        assert cell in result.output, cell
    flat = " ".join(result.output.replace("│", " ").split())
    for word in long.split():  # the name may wrap inside its cell, but is never cut
        assert word in flat
