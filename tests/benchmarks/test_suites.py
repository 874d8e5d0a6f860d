"""Every benchmark suite still runs (tiny sizes; no timing is asserted)."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from earful.benchmarks.runner import available
from earful.cli.main import app

KEYS = {"suite", "name", "value", "unit", "baseline", "ratio", "target", "n", "spread"}


@pytest.mark.parametrize("suite", available())
def test_suite_runs_quick_and_prints_json_figures(suite: str) -> None:
    result = CliRunner().invoke(app, ["bench", suite, "--quick", "--json"])
    assert result.exit_code == 0, result.output
    figures = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert figures, f"suite {suite} printed no figure"
    for fig in figures:
        assert fig.keys() >= KEYS
        assert fig["suite"] == suite
        assert fig["value"] > 0


def test_unknown_suite_is_refused() -> None:
    result = CliRunner().invoke(app, ["bench", "nope", "--quick"])
    assert result.exit_code == 2
    assert "unknown suite(s) nope" in result.output
