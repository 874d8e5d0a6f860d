"""`earful queries update/delete`: a stored query can be changed and removed, never broken."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from earful.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["brands", "add", "acme", "--keyword", "acme"]).exit_code == 0
    return tmp_path


def listed() -> str:
    result = runner.invoke(app, ["queries", "list", "--brand", "acme"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_update_then_delete_a_query(env: Path) -> None:
    added = runner.invoke(app, ["queries", "add", "acme", "bags", '"lost bag" OR luggage'])
    assert added.exit_code == 0, added.output
    bad = runner.invoke(app, ["queries", "update", "acme", "bags", "--query", "bag AND"])
    assert bad.exit_code == 2
    assert "^" in bad.output  # the caret under the column that is wrong
    assert '"lost bag" OR luggage' in listed()  # the stored query is unchanged
    off = runner.invoke(
        app, ["queries", "update", "acme", "bags", "--query", "luggage~ NOT pie", "--disable"]
    )
    assert off.exit_code == 0, off.output
    assert "(off): luggage~ NOT pie" in off.output
    assert "luggage~ NOT pie" in listed()
    unknown = runner.invoke(app, ["queries", "delete", "acme", "nope"])
    assert unknown.exit_code == 2 and "no query named 'nope'" in unknown.output
    gone = runner.invoke(app, ["queries", "delete", "acme", "bags"])
    assert gone.exit_code == 0, gone.output
    assert "luggage~" not in listed()
