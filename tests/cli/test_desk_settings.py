"""`earful brands holidays|sla`, `earful sources pause|resume|delete` and `earful users
token-*`: the command line sets what the admin pages set, through the same services, and
the admin pages show it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from earful.brands.service import create_brand
from earful.cli.main import app
from earful.config import load_settings
from earful.db import make_engine, transaction
from earful.migrate import upgrade
from earful.models import AuditEvent, Holiday, SlaPolicy, Source

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    url = load_settings().resolved_database_url
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as s:
        create_brand(s, "acme", "Acme Air", ["acme"], {})
    engine.dispose()
    yield url


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_holidays_and_sla_targets_from_the_command_line(database: str) -> None:
    run("brands", "holidays", "add", "acme", "2026-12-25", "--name", "Christmas")
    assert "2026-12-25" in run("brands", "holidays", "list", "acme")
    assert "not a date like" in run("brands", "holidays", "add", "acme", "Dec 25", code=2)
    run("brands", "sla", "set", "acme", "urgent", "15")
    shown = run("brands", "sla", "show", "acme")
    assert re.search(r"urgent\s+│\s+3\s+│\s+15", shown) and "60 (the brand's)" in shown
    assert "one of urgent" in run("brands", "sla", "set", "acme", "asap", "5", code=2)
    engine = make_engine(database)
    with transaction(engine) as s:
        assert [(h.day.isoformat(), h.name) for h in s.scalars(select(Holiday))] == [
            ("2026-12-25", "Christmas")
        ]
        assert [(p.priority, p.target_minutes) for p in s.scalars(select(SlaPolicy))] == [
            ("urgent", 15)
        ]
    run("brands", "holidays", "remove", "acme", "2026-12-25")
    run("brands", "sla", "set", "acme", "urgent")  # back to the brand's target
    with transaction(engine) as s:
        assert s.scalar(select(Holiday).limit(1)) is None
        assert s.scalar(select(SlaPolicy).limit(1)) is None
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"settings.holiday_add", "settings.holiday_remove", "settings.sla"} <= actions
    engine.dispose()


def test_sources_pause_resume_delete_from_the_command_line(database: str) -> None:
    settings = ["--set", "base_url=https://social.example", "--set", "access_token=tok-secret-1"]
    run("sources", "add", "mastodon", "acme-masto", "--brand", "acme", *settings)
    engine = make_engine(database)
    with transaction(engine) as s:
        sid = s.scalars(select(Source.id)).one()
    run("sources", "pause", str(sid))
    listed = run("sources", "list")
    assert "paused" in listed and "tok-secret-1" not in listed
    run("sources", "resume", str(sid))
    assert "paused" not in run("sources", "list")
    run("sources", "delete", str(sid))
    assert "no source with id" in run("sources", "pause", str(sid), code=1)
    with transaction(engine) as s:
        assert s.scalar(select(Source).limit(1)) is None
    engine.dispose()


def test_api_tokens_from_the_command_line(database: str) -> None:
    run(
        "users", "create", "lead@example.org", "--brand", "acme:admin", "--password", "pw-123456789"
    )
    out = run("users", "token-create", "lead@example.org", "zapier")
    clear = out.split("shown once: ")[1].strip()
    tokens = run("users", "tokens", "lead@example.org")
    assert "zapier" in tokens and "never" in tokens and clear not in tokens
    token_id = re.search(r"token (\d+)", out)
    assert token_id
    run("users", "token-revoke", "lead@example.org", token_id.group(1))
    assert "zapier" not in run("users", "tokens", "lead@example.org")
