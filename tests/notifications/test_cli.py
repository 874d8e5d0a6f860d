"""`earful notify set/show` and `earful webhooks add/list/resume/remove`: the secret the
command prints once signs what `earful outbound run` then sends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from earful.auth.service import create_user
from earful.brands.service import create_brand
from earful.cli.main import app
from earful.config import load_settings
from earful.db import make_engine, transaction
from earful.models import Role
from tests.protocol.fake_chat import EventReceiver
from tests.protocol.server import serve
from tests.web.world import add_conversation


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EARFUL_SECRET_KEY", "cli-secret")
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    eng = make_engine(load_settings().resolved_database_url)
    with transaction(eng) as s:
        brand = create_brand(s, "acme", "Acme Air", ["acme"])
        create_user(s, "agent@example.org", "Agent", "x" * 12, {brand.id: Role.AGENT})
    yield eng
    eng.dispose()


def test_notify_set_and_show(engine: Engine) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["notify", "set", "acme", "agent@example.org",
                            "--email-events", "sla,assigned", "--chat-url", "https://chat.example/h",
                            "--chat-events", "spike", "--quiet", "22:00-07:00",
                            "--timezone", "Europe/Paris"])  # fmt: skip
    assert r.exit_code == 0, r.output
    shown = runner.invoke(app, ["notify", "show", "acme", "agent@example.org"], terminal_width=200)
    assert shown.exit_code == 0
    assert "agent@example.org" in shown.output and "sla, assigned" in shown.output
    assert "https://chat.example/h" in shown.output
    assert "quiet 22:00-07:00 Europe/Paris: hold" in shown.output
    bad = runner.invoke(app, ["notify", "set", "acme", "agent@example.org",
                              "--email-events", "everything"])  # fmt: skip
    assert bad.exit_code == 2 and "events are spike" in bad.output
    nobody = runner.invoke(app, ["notify", "show", "acme", "ghost@example.org"])
    assert nobody.exit_code == 1 and "no active user" in nobody.output


def test_webhooks_add_sign_list_remove(engine: Engine) -> None:
    runner = CliRunner()
    receiver = EventReceiver()
    with serve(receiver) as host:
        added = runner.invoke(app, ["webhooks", "add", "acme", f"http://{host}/in",
                                    "--event", "conversation.created"])  # fmt: skip
        assert added.exit_code == 0, added.output
        m = re.search(r"signing secret \(shown once\): (\S+)", added.output)
        assert m
        receiver.secret = m.group(1)
        listed = runner.invoke(app, ["webhooks", "list", "acme"], terminal_width=200)
        assert "conversation.created" in listed.output and receiver.secret not in listed.output
        with transaction(engine) as s:
            conv = add_conversation(s, 1, 1, "acme lost my bag", "dora")
        ran = runner.invoke(app, ["outbound", "run", "--once"])
        assert ran.exit_code == 0, ran.output
        assert "1 events (1 deliveries)" in ran.output
    [doc] = receiver.events.values()
    assert doc["type"] == "conversation.created" and doc["conversation"]["id"] == conv
    assert runner.invoke(app, ["webhooks", "resume", "acme", "1"]).exit_code == 0
    assert runner.invoke(app, ["webhooks", "remove", "acme", "1"]).exit_code == 0
    gone = runner.invoke(app, ["webhooks", "remove", "acme", "1"])
    assert gone.exit_code == 1 and "no such webhook" in gone.output
    bad = runner.invoke(app, ["webhooks", "add", "acme", "not a url"])
    assert bad.exit_code == 2 and "http(s) URL" in bad.output
