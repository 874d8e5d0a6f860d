"""The public service page: off until published; then hours, whether the team is in and
the honest ETA, as a page, JSON and a badge, cached at most a minute, never a customer's
data; out of hours it says when the team is back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from earful.db import transaction
from earful.engagement import acknowledge, settings
from earful.public import service
from tests.web.world import SECRET_B, World, add_conversation, build_world, client

URLS = ("/s/{slug}", "/s/{slug}/status.json", "/s/{slug}/badge.svg")


@pytest.fixture
def world(engine: Engine) -> World:
    w = build_world(engine)
    with transaction(engine) as s:
        # Brand B's customers' words and handles: none may appear on B's public page.
        add_conversation(s, w.brand_b, 99, f"{SECRET_B} my card was charged", f"{SECRET_B}who")
    return w


def publish(engine: Engine, brand_id: int, hours: dict[str, list[list[str]]] | None) -> None:
    with transaction(engine) as s:
        acknowledge.set_hours(s, brand_id, timezone="Europe/Paris", spans=hours or {})
        settings.set_public_page(s, brand_id, published=True, contact="DM @BoltHelp on X")


def anonymous(engine: Engine) -> TestClient:
    return client(engine)  # no login


def test_an_unpublished_page_is_not_found(engine: Engine, world: World) -> None:
    c = anonymous(engine)
    for url in URLS:
        assert c.get(url.format(slug=world.slug_b)).status_code == 404
        assert c.get(url.format(slug="no-such-brand")).status_code == 404


def test_the_published_page_shows_the_eta_and_nothing_about_customers(
    engine: Engine, world: World
) -> None:
    publish(engine, world.brand_b, {})  # {}: always open
    c = anonymous(engine)
    page = c.get(f"/s/{world.slug_b}")
    assert page.status_code == 200
    assert "The team is in now." in page.text
    assert "a person will answer by" in page.text and "DM @BoltHelp on X" in page.text
    assert int(page.headers["cache-control"].split("max-age=")[1]) <= 60
    status = c.get(f"/s/{world.slug_b}/status.json")
    body = status.json()
    assert status.headers["access-control-allow-origin"] == "*"
    assert body["open_now"] is True and body["always_open"] is True
    due = datetime.fromisoformat(body["expected_first_response_by"])
    computed = datetime.fromisoformat(body["computed_at"])
    assert computed <= due <= computed + timedelta(minutes=60 + 15)  # the target, rounded up
    badge = c.get(f"/s/{world.slug_b}/badge.svg")
    assert badge.headers["content-type"].startswith("image/svg+xml")
    svg = ElementTree.fromstring(badge.text)  # well-formed, although the name has markup
    assert "open" in "".join(svg.itertext())
    for r in (page, status, badge):
        # The brand's own name may hold SECRET_B in this world; no customer handle or word.
        assert f"{SECRET_B}who" not in r.text and "charged" not in r.text
        assert "anna" not in r.text  # brand A's customers either


def test_out_of_hours_it_says_when_the_team_is_back(engine: Engine, world: World) -> None:
    # Open one hour a week, from one hour from now: closed now, back in an hour.
    now = datetime.now(UTC).astimezone()
    start = (now + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Paris"))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[start.weekday()]
    if start.hour >= 23:
        pytest.skip("the hour after next crosses midnight in Paris; the next run covers it")
    span = [f"{start.hour:02d}:00", f"{start.hour + 1:02d}:00"]
    publish(engine, world.brand_b, {day: [span]})
    body = anonymous(engine).get(f"/s/{world.slug_b}/status.json").json()
    assert body["open_now"] is False
    back = datetime.fromisoformat(body["back_at"])
    assert back.astimezone(start.tzinfo).strftime("%H:%M") == span[0]
    assert len(body["hours_next_7_days"]) == 1
    page = anonymous(engine).get(f"/s/{world.slug_b}").text
    assert "The team is away." in page and re.search(r"Back at <time datetime=", page)


def test_the_status_is_computed_at_most_once_a_minute(engine: Engine, world: World) -> None:
    publish(engine, world.brand_b, {})
    cache = service.StatusCache(seconds=60)
    with transaction(engine) as s:
        first = cache.get(s, world.slug_b)
        second = cache.get(s, world.slug_b)
    assert second is first
    fresh = service.StatusCache(seconds=0)
    with transaction(engine) as s:
        assert fresh.get(s, world.slug_b) is not fresh.get(s, world.slug_b)
