"""The command line: ingest summary, export, and clear errors for bad config."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from earful.cli.main import app
from tests.conftest import TWCS_SAMPLE


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    return tmp_path


def summary_row(output: str, name: str) -> int:
    """A number from the ingest summary table (its borders may be box-drawing or ASCII)."""
    found = re.search(rf"^\W*{re.escape(name)}\W+([\d,]+)\W*$", output, re.MULTILINE)
    assert found, f"no {name!r} row in:\n{output}"
    return int(found.group(1).replace(",", ""))


def test_ingest_twcs_then_export_conversations(env: Path) -> None:
    runner = CliRunner()
    sample = TWCS_SAMPLE
    with sample.open(encoding="utf-8", newline="") as f:
        records = sum(1 for _ in csv.DictReader(f))  # some texts span lines
    result = runner.invoke(app, ["ingest", str(sample), "--format", "twcs", "--brand", "support"])
    assert result.exit_code == 0, result.output
    assert summary_row(result.output, "records read") == records
    assert summary_row(result.output, "ingested") == records
    assert summary_row(result.output, "dead-lettered") == 0
    again = runner.invoke(
        app, ["ingest", str(sample), "--format", "twcs", "--brand", "support", "--from-start"]
    )
    assert again.exit_code == 0, again.output
    assert summary_row(again.output, "ingested") == 0
    assert summary_row(again.output, "duplicates skipped") == records
    export = runner.invoke(app, ["conversations", "export", "--format", "jsonl"])
    assert export.exit_code == 0, export.output
    rows = [orjson.loads(line) for line in export.stdout.splitlines()]
    assert rows and all(r["brand"] == "support" for r in rows)
    assert sum(len(r["posts"]) for r in rows) == records
    assert len(rows) == summary_row(result.output, "new conversations") < records


def test_bad_format_is_refused(env: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "x.csv", "--format", "xml"])
    assert result.exit_code == 2
    assert "--format must be one of jsonl, twcs, jetstream" in result.output


def test_bad_config_names_the_setting(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "earful.cli.main", "init"],
        env={
            "EARFUL_DATABASE_URL": "mysql://x/y",
            "EARFUL_LOG_LEVEL": "LOUD",
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "EARFUL_DATABASE_URL" in proc.stderr and "unsupported database 'mysql'" in proc.stderr
    assert "EARFUL_LOG_LEVEL" in proc.stderr
