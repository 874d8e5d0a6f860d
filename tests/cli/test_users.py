"""`earful users deactivate/activate`: stopping someone takes effect on their next request."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from earful.cli.main import app
from earful.config import load_settings
from earful.db import make_engine
from tests.web.world import PASSWORD, client, login

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["brands", "add", "acme", "--keyword", "acme"]).exit_code == 0
    made = runner.invoke(
        app,
        ["users", "create", "alice@example.org", "--brand", "acme:agent", "--password", PASSWORD],
    )
    assert made.exit_code == 0, made.output
    return tmp_path


def test_a_deactivated_user_is_signed_out_and_cannot_sign_in(env: Path) -> None:
    engine = make_engine(load_settings().resolved_database_url)
    c = client(engine)
    login(c, "alice")
    assert c.get("/api/v1/me").status_code == 200
    off = runner.invoke(app, ["users", "deactivate", "alice@example.org"])
    assert off.exit_code == 0 and "is deactivated" in off.output
    assert c.get("/api/v1/me").status_code == 401  # the open session stops at once
    fresh = client(engine)
    page = fresh.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = fresh.post(
        "/login",
        data={"email": "alice@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert r.status_code == 401
    assert runner.invoke(app, ["users", "activate", "alice@example.org"]).exit_code == 0
    login(fresh, "alice")
    assert fresh.get("/api/v1/me").status_code == 200
    unknown = runner.invoke(app, ["users", "deactivate", "nobody@example.org"])
    assert unknown.exit_code == 2 and "no user" in unknown.output
    engine.dispose()
