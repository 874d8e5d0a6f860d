"""The published ETA, end to end: posts arrive through the pipeline as a network sends them
(the JSONL wire format), the brand's answers as the network shows them, and the public
JSON, the badge, the agent's view and the automatic acknowledgements all say the figure
that the queue in front implies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from earful.auth.service import Principal, create_user
from earful.brands.service import create_brand
from earful.connectors.base import Batch
from earful.connectors.wire import parse_post_json
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.engagement import acknowledge, settings
from earful.engagement import repository as engagement_repo
from earful.models import Post, Role
from earful.pipeline.runner import Pipeline
from earful.pipeline.stages import NullClassifier
from earful.public import service
from tests.web.world import client

HANDLING = 6  # minutes the brand took to answer each past conversation
CALM = "Hi, could you tell me if I can change my seat on flight {n}? Thanks"
URGENT = "My flight 9{n} boards in 20 minutes and the app cancelled my booking!"


class Network:
    """Posts as the JSONL connector receives them, stored by the ingest pipeline and the
    conversations' states refreshed as the live tail does. No model labels them; an
    urgent post gets the labels a classifier would give it."""

    def __init__(self, engine: Engine, brand_id: int) -> None:
        self.engine, self.brand_id, self.n = engine, brand_id, 0
        self.pipeline = Pipeline(engine, classifier=NullClassifier())

    def post(
        self,
        text: str,
        at: datetime,
        reply_to: str | None = None,
        *,
        brand: bool = False,
        urgent: bool = False,
    ) -> str:
        self.n += 1
        sid = f"t3_{self.n}"
        who = "BoltHelp" if brand else f"customer{self.n}"
        doc = {"network": "reddit", "id": sid, "author": {"id": who, "handle": who, "name": who},
               "text": text, "created_at": at.isoformat().replace("+00:00", "Z"), "lang": "en",
               "reply_to": reply_to, "from_brand": brand}  # fmt: skip
        with self.engine.begin() as conn:
            out = self.pipeline.process(
                conn, Batch([parse_post_json(orjson.dumps(doc))]), "tests",
                source_brand=self.brand_id, detect=False,
            )  # fmt: skip
        with transaction(self.engine) as s:
            if urgent:
                labels = {"urgency": 3, "sentiment": "negative", "sentiment_score": 0.9}
                ids = [p for _, _, p in out.events]
                s.execute(update(Post).where(Post.id.in_(ids)).values(**labels))
            conversations_repo.refresh_states(s, sorted({c for _, c, _ in out.events}))
        return sid


@pytest.fixture
def desk(engine: Engine) -> tuple[Network, Principal]:
    with transaction(engine) as s:
        brand = create_brand(s, "bolt", "Bolt Air", handles={"reddit": ["BoltHelp"]})
        user = create_user(s, "jo@bolt.example", "Jo", "correct horse battery",
                           {brand.id: Role.AGENT})  # fmt: skip
        # Always staffed; acknowledged once two are waiting.
        acknowledge.set_hours(s, brand.id, timezone="UTC", spans={}, auto_ack=True,
                              ack_backlog=2)  # fmt: skip
        settings.set_public_page(s, brand.id, published=True, contact="DM @BoltHelp")
        agent = Principal(user.id, user.name, user.email, {brand.id: Role.AGENT})
        brand_id = brand.id
    net = Network(engine, brand_id)
    # The last four hours: a customer every 20 minutes, answered 6 minutes later by
    # one agent with nobody else waiting: 6 minutes a conversation, one at a time.
    start = datetime.now(UTC) - timedelta(hours=4)
    for i in range(10):
        at = start + timedelta(minutes=20 * i)
        asked = net.post(CALM.format(n=100 + i), at)
        net.post("Yes, done! ^JO", at + timedelta(minutes=HANDLING), asked, brand=True)
    return net, agent


def published(c: TestClient) -> float:
    """Minutes from the moment the public JSON was computed to its promise."""
    body = c.get("/s/bolt/status.json").json()
    due = datetime.fromisoformat(body["expected_first_response_by"])
    return (due - datetime.fromisoformat(body["computed_at"])).total_seconds() / 60


def test_the_public_figure_follows_the_queue_that_arrives_through_the_pipeline(
    engine: Engine, desk: tuple[Network, Principal]
) -> None:
    net, _ = desk
    # Nobody waiting: one handling time, rounded up to the minute.
    assert HANDLING <= published(client(engine)) < HANDLING + 1
    now = datetime.now(UTC)
    for i in range(4):
        net.post(CALM.format(n=200 + i), now - timedelta(minutes=4 - i))
    # Four before a new customer, one at a time: four answers, then theirs.
    assert 5 * HANDLING <= published(client(engine)) < 5 * HANDLING + 1


def test_every_place_shows_the_same_figure_and_the_urgent_customer_hears_sooner(
    engine: Engine, desk: tuple[Network, Principal]
) -> None:
    net, agent = desk
    now = datetime.now(UTC)
    for i in range(3):
        net.post(CALM.format(n=300 + i), now - timedelta(minutes=5 - i))
    net.post(URGENT.format(n=1), now - timedelta(minutes=1), urgent=True)
    with transaction(engine) as s:
        public = service.status(s, "bolt", now)
        since = now - timedelta(hours=1)
        conv_ids = [c.id for c, _ in engagement_repo.recently_waiting(s, net.brand_id, since)]
        seen_by_agent = acknowledge.expectation(s, agent, conv_ids[0], now)
        assert seen_by_agent.answer_by == public.answer_by is not None
        assert public.wait_words == "~30 min"  # the badge's words, from the same promise
        jobs = acknowledge.acknowledge_waiting(s, now)
        assert acknowledge.acknowledge_waiting(s, now + timedelta(minutes=1)) == []  # once
    by_conv = {j.conversation_id: datetime.fromisoformat(j.payload["answer_by"]) for j in jobs}
    assert sorted(by_conv) == sorted(conv_ids)
    *calm, urgent = conv_ids  # in the order they started waiting
    # Each calm customer waits for those before them; the urgent one jumps the queue.
    assert by_conv[calm[0]] < by_conv[calm[1]] < by_conv[calm[2]]
    assert by_conv[urgent] < by_conv[calm[0]]
    # The calm customer's acknowledgement quotes its own place; the public figure is for
    # someone writing now, behind all four.
    assert public.answer_by is not None and by_conv[calm[2]] < public.answer_by
    text = {j.conversation_id: j.text for j in jobs}
    assert by_conv[urgent].strftime("%H:%M") in (text[urgent] or "")


def test_the_urgent_customers_a_day_brings_are_counted_before_a_calm_ones_turn(
    engine: Engine, desk: tuple[Network, Principal]
) -> None:
    """The inbox puts an urgent newcomer (a quarter of the brand's 60 min target) before
    a calm customer who is still waiting: the calm one's promise counts those expected
    to arrive until their turn, from how often urgent posts came in the last day."""
    net, _ = desk
    now = datetime.now(UTC)
    for i in range(4):
        net.post(CALM.format(n=400 + i), now - timedelta(minutes=4 - i))
    alone = published(client(engine))
    assert 5 * HANDLING <= alone < 5 * HANDLING + 1  # four before, one at a time
    # Over the last day an urgent customer every 20 minutes, each answered in 6 minutes,
    # between the calm ones (none waits now): 0.05 a minute.
    start = now - timedelta(hours=23, minutes=50)
    for i in range(70):
        at = start + timedelta(minutes=20 * i)
        asked = net.post(URGENT.format(n=i), at, urgent=True)
        net.post("Rebooked, check your email. ^JO", at + timedelta(minutes=HANDLING), asked,
                 brand=True)  # fmt: skip
    crowded = published(client(engine))
    # Taken after T minutes, 0.05 T urgent ones arrive first: T = 24 + 6 * 0.05 T = ~34.
    assert 5 * HANDLING + HANDLING < crowded < alone + 3 * HANDLING
    with transaction(engine) as s:
        _, e = acknowledge.brand_expectation(s, net.brand_id, now)
    assert "more due sooner should arrive" in e.basis
