"""The automatic acknowledgement: sent once per waiting spell, honest, never an answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from earful.db import transaction
from earful.engagement import acknowledge, hours
from earful.engagement.worker import OutboundWorker
from earful.models import ConversationState, EngagementSettings, Note
from tests.engagement.helpers import complaint, mastodon_actors
from tests.fakes.network import FakeNetwork, serve


@pytest.fixture
def fake() -> FakeNetwork:
    return FakeNetwork()


@pytest.fixture
def base_url(fake: FakeNetwork) -> Iterator[str]:
    with serve(fake) as url:
        yield url


def test_outside_hours_the_customer_hears_when_and_the_clock_keeps_running(
    engine: Engine, fake: FakeNetwork, base_url: str
) -> None:
    desk = complaint(engine, fake, base_url)
    with transaction(engine) as s:
        state = s.get(ConversationState, desk.conv_id)
        assert state is not None and state.waiting_since is not None
        now = state.waiting_since + timedelta(minutes=5)  # the fixed clock
        open_day = hours.DAYS[(now.weekday() + 3) % 7]  # open only three days from now
        s.add(EngagementSettings(brand_id=desk.brand_id, timezone="UTC", auto_ack=True,
                                 hours={open_day: [["09:00", "17:00"]]}))  # fmt: skip
    with transaction(engine) as s:
        [job] = acknowledge.acknowledge_waiting(s, now)
        assert job.payload["auto"] is True
        day = (now + timedelta(days=3)).strftime("%A %-d %B")
        # No measurement yet: the brand's 60-minute target, counted from opening time.
        assert job.text == (
            "Thanks for reaching out! Our team is away right now. "
            f"A person will answer you by 10:00 UTC on {day}."
        )
        assert acknowledge.acknowledge_waiting(s, now + timedelta(minutes=1)) == []  # once

    assert asyncio.run(OutboundWorker(engine, actors=mastodon_actors(base_url)).drain()).sent == 1
    [posted] = [fake.statuses[i] for i in fake.posted]
    assert posted["in_reply_to_id"] == desk.post_sid and "^" not in str(posted["content"])
    with transaction(engine) as s:
        state = s.get(ConversationState, desk.conv_id)
        assert state is not None
        assert state.waiting_since is not None and state.first_response_at is None
        notes = [n.text for n in s.query(Note).filter_by(conversation_id=desk.conv_id)]
        assert notes == [f"Automatic acknowledgement sent: {job.text}"]


def test_no_acknowledgement_in_hours_with_a_short_queue(
    engine: Engine, fake: FakeNetwork, base_url: str
) -> None:
    desk = complaint(engine, fake, base_url)
    with transaction(engine) as s:
        state = s.get(ConversationState, desk.conv_id)
        assert state is not None and state.waiting_since is not None
        now = state.waiting_since + timedelta(minutes=5)
        s.add(EngagementSettings(brand_id=desk.brand_id, timezone="UTC", auto_ack=True,
                                 ack_backlog=5, hours={}))  # fmt: skip
    with transaction(engine) as s:
        assert acknowledge.acknowledge_waiting(s, now) == []
        e = acknowledge.expectation(s, desk.agent, desk.conv_id, now)
        assert e.open_now and e.waiting == 1 and e.wait_minutes == 60
