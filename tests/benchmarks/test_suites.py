"""Every benchmark suite still runs (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import math

import orjson
import pytest
from typer.testing import CliRunner

from earful.benchmarks.host import REFERENCE, around
from earful.benchmarks.runner import available
from earful.cli.main import app
from tests.conftest import REDIS_URL

KEYS = {"suite", "name", "value", "unit", "baseline", "ratio", "target", "n", "spread"}


@pytest.mark.parametrize("suite", available())
def test_suite_runs_quick_and_prints_json_figures(suite: str, pg_schema: str) -> None:
    # Suites that compare backends or run workers get the test PostgreSQL and Redis.
    pg = pg_schema.split("?", 1)[0]
    args = ["bench", suite, "--quick", "--json", "--database", pg, "--redis", REDIS_URL]
    result = CliRunner().invoke(app, args)
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
    result = CliRunner().invoke(app, ["bench", "nope", "--quick"])
    assert result.exit_code == 2
    assert "unknown suite(s) nope" in result.output


def test_capacity_names_a_rate_and_a_bottleneck() -> None:
    result = CliRunner().invoke(app, ["bench", "capacity", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    steps, summary = lines[:-1], lines[-1]
    assert [s["rate"] for s in steps][:2] == [100, 200]
    assert summary["bottleneck"] in {"normalize", "match", "classify", "thread", "route", "store"}
    held = [s["rate"] for s in steps if s["sustainable"]]
    assert summary["sustainable_rate"] == (max(held) if held else 0)
