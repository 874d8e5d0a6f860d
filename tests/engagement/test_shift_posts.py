"""Sign-on / sign-off posts: set on the command line, posted by the outbound worker's
round at each edge of the brand's hours in its time zone (a controlled clock), signed,
once per edge, never on a closed day, through the real Mastodon connector to the fake."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from earful.brands.service import create_brand
from earful.cli.main import app as cli
from earful.cli.outbound import Outbound, outbound_rounds
from earful.db import transaction
from earful.engagement import acknowledge
from earful.engagement.worker import OutboundWorker
from earful.models import JobState, OutboundJob
from tests.engagement.helpers import mastodon_actors
from tests.fakes.network import FakeNetwork, serve

runner = CliRunner()
WEEKDAYS = {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def fake() -> FakeNetwork:
    return FakeNetwork()


@pytest.fixture
def base_url(fake: FakeNetwork) -> Iterator[str]:
    with serve(fake) as url:
        yield url


def round_at(engine: Engine, base_url: str, when: datetime) -> None:
    worker = OutboundWorker(engine, actors=mastodon_actors(base_url))
    out = Outbound(engine, worker, None, None)
    asyncio.run(
        outbound_rounds(out, threading.Event(), once=True, sync_every=0, clock=lambda: when)
    )


def test_posts_at_each_edge_once_in_the_brands_time_zone(
    engine: Engine, db_url: str, fake: FakeNetwork, base_url: str
) -> None:
    with transaction(engine) as s:
        brand = create_brand(s, "acme", "Acme Air", ["acme"], {"mastodon": ["acme"]})
        acknowledge.set_hours(s, brand.id, timezone="Europe/Paris", spans=WEEKDAYS)
    refused = runner.invoke(cli, ["engagement", "shift-posts", "acme", "--sign-on",
                                  "We're here!", "--database", db_url])  # fmt: skip
    assert refused.exit_code == 2 and "{until}" in refused.output
    on = runner.invoke(cli, ["engagement", "shift-posts", "acme", "--on", "--network",
                             "mastodon", "--database", db_url])  # fmt: skip
    assert on.exit_code == 0 and "posts are on on mastodon" in on.output, on.output

    def posts() -> list[str]:
        return [str(fake.statuses[i]["content"]) for i in fake.posted]

    # Friday 4 December 2026: Paris opens at 09:00 (08:00 UTC), closes at 18:00 (17:00 UTC).
    round_at(engine, base_url, datetime(2026, 12, 4, 7, 59, tzinfo=UTC))
    assert posts() == []  # before opening: nothing
    round_at(engine, base_url, datetime(2026, 12, 4, 8, 1, tzinfo=UTC))
    round_at(engine, base_url, datetime(2026, 12, 4, 8, 2, tzinfo=UTC))  # same edge: once
    assert posts() == ["<p>We're here until 6 pm. Ask us anything! ^AA</p>"]
    round_at(engine, base_url, datetime(2026, 12, 4, 17, 0, tzinfo=UTC))
    assert posts()[1:] == [
        "<p>We're away until 9 am Monday. Leave us a message and we'll answer then. ^AA</p>"
    ]
    # The weekend is closed: no edges; Monday's opening is posted.
    for day in (5, 6):
        round_at(engine, base_url, datetime(2026, 12, day, 8, 1, tzinfo=UTC))
    assert len(posts()) == 2
    round_at(engine, base_url, datetime(2026, 12, 7, 8, 10, tzinfo=UTC))
    assert len(posts()) == 3 and "until 6 pm" in posts()[2]
    # An edge missed by longer than the look-back (the worker was down) is not posted late.
    round_at(engine, base_url, datetime(2026, 12, 7, 18, 0, tzinfo=UTC))
    assert len(posts()) == 3
    assert all(fake.statuses[i]["in_reply_to_id"] is None for i in fake.posted)
    with engine.connect() as conn:
        states = conn.scalars(select(OutboundJob.state).where(OutboundJob.kind == "post")).all()
    assert states == [JobState.SENT] * 3


def test_custom_texts_must_fit_the_network(engine: Engine, db_url: str) -> None:
    with transaction(engine) as s:
        create_brand(s, "acme", "Acme Air", ["acme"], {"mastodon": ["acme"]})
    long = runner.invoke(cli, ["engagement", "shift-posts", "acme", "--network", "x",
                               "--sign-off", "Away until {until}. " + "x" * 280,
                               "--database", db_url])  # fmt: skip
    assert long.exit_code == 2 and "x allows 280" in long.output
    ok = runner.invoke(cli, ["engagement", "shift-posts", "acme", "--sign-on",
                             "Hi! Here till {until}.", "--database", db_url])  # fmt: skip
    assert ok.exit_code == 0 and "Hi! Here till {until}." in ok.output
