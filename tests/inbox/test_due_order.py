"""The inbox lists the soonest due first: due is the first unanswered customer post plus
the SLA target of its priority, counted in the brand's service hours. Posts come in
through the ingest pipeline; the order and the clock are read from the inbox page and the
API, as an agent and an integration see them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine

from earful.connectors.base import Batch
from earful.conversations import repository as conversations_repo
from earful.conversations.priority import sla_words
from earful.db import transaction
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import Labels, PostIn
from earful.wording import duration_words
from tests.web.world import World, add_conversation, build_world, client, login


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine, per_brand=1)


def test_the_inbox_orders_by_due_time_in_service_hours_never_by_arrival(
    engine: Engine, world: World
) -> None:
    with transaction(engine) as s:
        calm = add_conversation(s, world.brand_a, 1, "seat was a bit small", "cal",
                                urgency=0, minutes_ago=500)  # fmt: skip
        urgent = add_conversation(s, world.brand_a, 2, "my flight leaves in an hour, no bag",
                                  "uma", urgency=3, minutes_ago=5)  # fmt: skip
        normal = add_conversation(s, world.brand_a, 3, "refund still not here", "nora",
                                  urgency=1, minutes_ago=150)  # fmt: skip
        conversations_repo.refresh_states(s, [calm, urgent, normal])
    admin = client(engine)
    csrf = login(admin, "alice")
    targets = {"urgent": "15", "normal": "120", "low": "600"}
    r = admin.post(f"/brands/{world.slug_a}/sla", data={"csrf_token": csrf, **targets})
    assert r.status_code == 200 and "SLA targets saved." in r.text
    api = client(engine)
    auth = {"Authorization": f"Bearer {world.token_a}"}

    def listed() -> list[tuple[int, str]]:
        rows = api.get("/api/v1/conversations", headers=auth).json()["conversations"]
        return [(row["id"], row["sla"]) for row in rows if row["id"] in (calm, urgent, normal)]

    # Oldest first would put the calm post first; due time puts the overdue one first,
    # then the urgent one that arrived last, then the calm one with a long target.
    assert listed() == [
        (normal, "overdue 30 min"),
        (urgent, "due in 10 min"),
        (calm, "due in 1 h 40 min"),
    ]
    page = admin.get("/inbox").text
    order = [page.index(f'href="/c/{cid}"') for cid in (normal, urgent, calm)]
    assert order == sorted(order), order
    assert "overdue 30 min" in page and "due in 10 min" in page and "due in 1 h 40 min" in page

    # Closed yesterday and today: every clock starts when the team is next in, tomorrow at
    # 00:00 UTC, so the urgent one (15 min of service hours) is now due first.
    today = datetime.now(UTC).date()
    for day in (today - timedelta(days=1), today):
        holiday = {"csrf_token": csrf, "day": day.isoformat(), "name": "Closed"}
        r = admin.post(f"/brands/{world.slug_a}/holidays", data=holiday)
        assert r.status_code == 200, r.text
    got = listed()
    assert [cid for cid, _ in got] == [urgent, normal, calm]
    opening = datetime.combine(today + timedelta(days=1), time(0), UTC)

    def words_at(now: datetime, minutes: int) -> str:
        left = opening + timedelta(minutes=minutes) - now
        return f"due in {duration_words(math.ceil(left.total_seconds() / 60))}"

    before = datetime.now(UTC)
    got = listed()
    after = datetime.now(UTC)
    for (_, words), minutes in zip(got, (15, 120, 600), strict=True):
        assert words in {words_at(before, minutes), words_at(after, minutes)}, words


def test_the_clock_reads_as_words_at_each_edge() -> None:
    due = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert sla_words(None, due) == "answered"
    assert sla_words(due, due - timedelta(minutes=12, seconds=10)) == "due in 13 min"
    assert sla_words(due, due) == "due now"
    assert sla_words(due, due + timedelta(seconds=59)) == "due now"
    assert sla_words(due, due + timedelta(minutes=1)) == "overdue 1 min"
    assert sla_words(due, due + timedelta(hours=3, minutes=5)) == "overdue 3 h 5 min"


class ScriptedModel:
    """Stands in for the classifier: the urgency a model would read in each text."""

    version = "scripted"

    def __init__(self, urgency: dict[str, int]) -> None:
        self.urgency = urgency

    def classify(self, texts: Sequence[str]) -> list[Labels]:
        # The brand's own answers are labeled too; the conversation reads its customer's.
        return [Labels(urgency=self.urgency.get(t, 0), sentiment="neutral") for t in texts]


def test_a_follow_up_never_makes_an_urgent_conversation_wait_longer(
    engine: Engine, world: World
) -> None:
    """The priority is the most urgent post still waiting: "hello??" after "my flight
    leaves in an hour" keeps the urgent target; once the brand answers, the next calm
    post names the priority on its own."""
    stranded = "my flight leaves in an hour and my bag is lost"
    nudge = "hello??"
    calm = "thanks, one more thing: can I pick a seat?"
    model = ScriptedModel({stranded: 3, nudge: 1, calm: 0})
    pipeline = Pipeline(engine, classifier=model)
    start = datetime.now(UTC) - timedelta(minutes=10)

    def arrive(n: int, text: str, reply_to: str | None, brand: bool = False) -> int:
        post = PostIn(network="bluesky", external_id=f"u-{n}",
                      author_id="acme-desk" if brand else "stranded-1", text=text,
                      created_at=start + timedelta(minutes=n), author_handle="stranded",
                      language="en", reply_to=reply_to, author_is_brand=brand)  # fmt: skip
        with transaction(engine) as s:
            out = pipeline.process(s.connection(), Batch([post]), "tests",
                                   source_brand=world.brand_a, detect=False)  # fmt: skip
            [(_, conv_id, _)] = out.events
            conversations_repo.refresh_states(s, [conv_id])
        return conv_id

    admin = client(engine)
    csrf = login(admin, "alice")
    targets = {"urgent": "15", "normal": "120", "low": "600"}
    r = admin.post(f"/brands/{world.slug_a}/sla", data={"csrf_token": csrf, **targets})
    assert r.status_code == 200, r.text
    api = client(engine)
    auth = {"Authorization": f"Bearer {world.token_a}"}

    def summary(conv: int) -> dict[str, object]:
        body = api.get(f"/api/v1/conversations/{conv}", headers=auth).json()
        return {k: body["summary"][k] for k in ("urgency", "target_minutes", "waiting")}

    conv = arrive(0, stranded, None)
    assert summary(conv) == {"urgency": 3, "target_minutes": 15, "waiting": True}
    assert arrive(1, nudge, "u-0") == conv
    assert summary(conv) == {"urgency": 3, "target_minutes": 15, "waiting": True}
    assert arrive(2, "Found your bag, it is on the next flight. ^Al", "u-1", brand=True) == conv
    assert summary(conv)["waiting"] is False
    assert arrive(3, calm, "u-2") == conv
    assert summary(conv) == {"urgency": 0, "target_minutes": 600, "waiting": True}
