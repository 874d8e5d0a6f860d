"""Every benchmark suite still runs (tiny sizes; no timing is asserted), and so does
`earful bench capacity`."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from bench.host import REFERENCE, around
from bench.run import app as bench_app
from bench.runner import available
from earful.cli.main import app
from tests.conftest import REDIS_URL

KEYS = {"suite", "name", "value", "unit", "baseline", "ratio", "target", "n", "spread"}


@pytest.mark.parametrize("suite", available())
def test_suite_runs_quick_and_prints_json_figures(suite: str, pg_schema: str) -> None:
    # Suites that compare backends or run workers get the test PostgreSQL and Redis.
    pg = pg_schema.split("?", 1)[0]
    args = [suite, "--quick", "--json", "--database", pg, "--redis", REDIS_URL]
    result = CliRunner().invoke(bench_app, args)
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    figures = [f for f in lines if f["suite"] != "host"]
    assert figures, f"suite {suite} printed no figure"
    host = {f["name"]: f for f in lines if f["suite"] == "host"}
    assert host.keys() == {REFERENCE, around(suite)}  # probed before and after the suite
    assert host[REFERENCE]["n"] == 2 and host[REFERENCE]["value"] > 0
    for fig in figures:
        assert fig.keys() >= KEYS
        assert fig["suite"] == suite
        assert math.isfinite(fig["value"]) and fig["value"] >= 0
    assert any(f["value"] > 0 for f in figures)


def test_unknown_suite_is_refused() -> None:
    result = CliRunner().invoke(bench_app, ["nope", "--quick"])
    assert result.exit_code == 2
    assert "unknown suite(s) nope" in result.output


def test_capacity_is_not_a_suite_but_a_command_of_the_product() -> None:
    result = CliRunner().invoke(bench_app, ["capacity"])
    assert result.exit_code == 2
    assert "earful bench capacity" in result.output


def test_capacity_names_a_rate_and_a_bottleneck() -> None:
    result = CliRunner().invoke(app, ["bench", "capacity", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    steps, summary = lines[:-1], lines[-1]
    doubling = [s["rate"] for s in steps if s["phase"] == "step"]
    assert doubling[:2] == [100, 200]
    assert summary["bottleneck"] in {"normalize", "match", "classify", "thread", "route", "store"}
    for s in steps:
        assert 0 < s["busy"] <= 1 and s["p50_ms"] <= s["p99_ms"]
        assert s["sustainable"] == (not s["why"]), s
    held = [s["rate"] for s in steps if s["sustainable"]]
    assert summary["sustainable_rate"] == summary["step_rate"] == (max(held) if held else 0)


def test_capacity_hold_reports_windows_and_plans_with_the_held_rate() -> None:
    args = ["bench", "capacity", "--quick", "--json", "--hold", "2", "--headroom", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    holds = [x for x in lines if x.get("phase") == "hold"]
    windows = [x for x in lines if x.get("phase") == "window"]
    summary = lines[-1]
    assert holds and holds[0]["rate"] == summary["step_rate"] > 0
    # Each hold printed its windows before its own line, covering all its posts.
    first_hold = lines.index(holds[0])
    mine = [w for w in windows if lines.index(w) < first_hold]
    assert len(mine) == holds[0]["windows"] >= 5
    assert sum(w["posts"] for w in mine) == holds[0]["posts"]
    assert [w["end_s"] for w in mine] == sorted(w["end_s"] for w in mine)
    last = holds[-1]
    assert summary["sustainable_rate"] == (last["rate"] if last["sustainable"] else 0)
    assert summary["hold"]["rate"] == last["rate"]


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--headroom", "2", "less than or equal to 1"),
        ("--hold", "-5", "greater than or equal to 0"),
    ],
)
def test_capacity_refuses_a_bad_headroom_or_hold(option: str, value: str, says: str) -> None:
    result = CliRunner().invoke(app, ["bench", "capacity", "--quick", option, value])
    assert result.exit_code == 2
    assert says in " ".join(result.output.split())


def test_the_outbound_queue_goes_to_a_memory_folder_only_where_it_has_room(tmp_path: Path) -> None:
    from bench.outbound import _memory_dir

    assert _memory_dir(str(tmp_path), room=0) == str(tmp_path)
    assert _memory_dir(str(tmp_path), room=1 << 60) is None  # a container's 64 MB /dev/shm
    assert _memory_dir(str(tmp_path / "missing"), room=0) is None


def test_worker_latency_pools_the_batches_of_every_paced_run() -> None:
    from bench.workers import latency_figures

    # Three runs of 100 batches; only the second had a slow second (2 batches of 0.5 s).
    quiet = [0.03] * 100
    runs = [quiet, [0.03] * 98 + [0.5] * 2, quiet]
    p50, p99 = latency_figures(runs, 1000.0)
    assert (p50.name, p99.name) == (
        "stream -> inbox latency p50 at 1,000 posts/s, 2 workers",
        "stream -> inbox latency p99 at 1,000 posts/s, 2 workers",
    )
    assert p50.value == pytest.approx(30.0) and p99.n == 300
    # That run's own p99 is 500 ms; of the 300 batches together, 2 slow ones are not 1 %.
    assert p99.value == pytest.approx(30.0)
    assert p99.spread == pytest.approx((500 - 30) / 30)  # how far one run's p99 moved
    # Slow batches in every run are the tail of the whole.
    tail = latency_figures([[0.03] * 98 + [0.2] * 2] * 3, 1000.0)[1]
    assert tail.value == pytest.approx(200.0) and tail.spread == 0.0
