"""`earful engagement`: the settings a lead sets reach what customers receive.

A compliment arrives from a Mastodon status through the pipeline (the shipped classifier
labels it), the brand's rules — set on the command line — thank and like it by themselves
in the outbound worker's round, signed in the brand's format, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from earful.brands.service import create_brand
from earful.cli.main import app
from earful.config import load_settings
from earful.connectors.base import Batch
from earful.connectors.wire import parse_mastodon_status
from earful.db import make_engine, transaction
from earful.engagement import service as engagement
from earful.engagement.worker import OutboundWorker
from earful.migrate import upgrade
from earful.models import OutboundJob, Post
from earful.models.base import utcnow
from earful.pipeline.runner import Pipeline
from tests.engagement.helpers import mastodon_actors
from tests.fakes.network import FakeNetwork, serve, status

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    url = load_settings().resolved_database_url
    engine = make_engine(url)
    upgrade(engine)
    with transaction(engine) as s:
        create_brand(s, "acme", "Acme Air", ["acme"], {"mastodon": ["acme"]})
    engine.dispose()
    yield url


def test_signing_settings_are_checked_and_shown(database: str) -> None:
    bad = runner.invoke(app, ["engagement", "signing", "acme", "--signature-format", "^{nick}"])
    assert bad.exit_code == 2 and "{initials}" in bad.output
    ok = runner.invoke(app, ["engagement", "signing", "acme", "--signature-format", "— {first}"])
    assert ok.exit_code == 0, ok.output
    assert "'— Jane'" in ok.output
    missing = runner.invoke(app, ["engagement", "signing", "nope", "--thank"])
    assert missing.exit_code == 1 and "no brand 'nope'" in missing.output


def test_compliment_rules_thank_and_like_a_compliment_once(database: str) -> None:
    fake = FakeNetwork(limit=300, window=300.0)
    result = runner.invoke(
        app,
        [
            "engagement",
            "signing",
            "acme",
            "--thank-text",
            "Thank you, {customer}! Passing this on to the crew.",
            "--thank",
            "--like",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "thank, like" in result.output
    engine = make_engine(database)
    with serve(fake) as base_url:
        text = "Thank you acme, the crew was wonderful and so kind today!"
        sid = fake.seed(text, "maria")
        instance = urlsplit(base_url).netloc
        post = parse_mastodon_status(status(sid, text, "maria"), instance)  # as streamed
        with engine.begin() as conn:
            Pipeline(engine).process(conn, Batch([post]), origin="test")
        with transaction(engine) as s:
            stored = s.scalar(select(Post))
            assert stored is not None and stored.intent == "compliment", stored and stored.intent
            first = engagement.compliment_round(s, utcnow())
            again = engagement.compliment_round(s, utcnow())
        assert sorted(j.kind.value for j in first) == ["like", "reply"]
        assert again == []
        worker = OutboundWorker(engine, actors=mastodon_actors(base_url))
        asyncio.run(worker.drain(idle_s=0.0))
        asyncio.run(worker.drain(idle_s=0.0))
    assert fake.favourites == {sid}
    assert len(fake.posted) == 1
    thanks = fake.statuses[fake.posted[0]]
    assert thanks["in_reply_to_id"] == sid
    assert "Thank you, maria! Passing this on to the crew." in thanks["content"]
    with transaction(engine) as s:
        assert {j.state.value for j in s.scalars(select(OutboundJob))} == {"sent"}
    engine.dispose()
