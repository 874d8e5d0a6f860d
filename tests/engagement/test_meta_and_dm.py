"""Answering on Meta, and DMs addressed as each network wants, through the production path:
a signed webhook delivery → the pipeline → an agent acts → the outbound worker, with the
brand's own source resolving the connector, sends to a fake speaking the Graph API / X API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from earful.auth.service import Principal, create_user, load_principal
from earful.connectors import meta
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.engagement import replies
from earful.engagement import repository as engagement_repo
from earful.engagement import service as engagement
from earful.engagement.worker import OutboundWorker
from earful.handoff import service as handoff
from earful.handoff.config import HandoffSettings
from earful.models import Conversation, ConversationPost, Handoff, OutboundJob, Post, Role
from earful.sources import actors, live
from tests.protocol.conftest import SECRET, make_source
from tests.protocol.fake_x import FakeX, tweet
from tests.protocol.server import serve
from tests.protocol.test_webhooks import APP_SECRET, FakeGraph, delivery, signed
from tests.protocol.test_x import BRAND_ID
from tests.protocol.test_x import connector as x_connector

# Dana's comment on the page's post, and Sam's answer to it (one thread, two customers).
COMMENT = "122150000000000001_1234567890123456"
ANSWER = "122150000000000001_1234567890123457"


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    with serve(fake.app()) as host:
        yield fake, f"http://{host}/v21.0"


def agent_of(engine: Engine, brand_id: int) -> Principal:
    with transaction(engine) as s:
        user = create_user(
            s, "jo@acme.example", "Jo Agent", "correct horse battery", {brand_id: Role.AGENT}
        )
        principal = load_principal(s, user.id)
        assert principal is not None
        return principal


def conversation_of(engine: Engine, external_id: str) -> tuple[int, int]:
    """The conversation the pipeline threaded this network post into."""
    with transaction(engine) as s:
        conv = s.scalar(
            select(Conversation)
            .join(ConversationPost, ConversationPost.conversation_id == Conversation.id)
            .join(Post, Post.id == ConversationPost.post_id)
            .where(Post.external_id == external_id)
        )
        assert conv is not None, "the pipeline did not thread the post"
        conversations_repo.refresh_states(s, [conv.id])  # what the live tail does
        return conv.id, conv.brand_id


def page_feed_delivered(engine: Engine, graph_url: str) -> None:
    """The brand's Meta source, and a signed page-feed delivery to its webhook."""
    sid = make_source(
        engine,
        "meta",
        {
            "app_secret": APP_SECRET,
            "verify_token": "vt-123",
            "page_token": "page-token",
            "page_id": "104680012345678",
            "graph_url": graph_url,
        },
    )
    app = FastAPI()
    app.include_router(meta.router(engine, SECRET, graph_url=graph_url))
    body = delivery("meta_page_feed.json")
    r = TestClient(app).post(f"/webhooks/meta/{sid}", content=body, headers=signed(body))
    assert r.status_code == 200, r.text


def drain(engine: Engine) -> None:
    worker = OutboundWorker(engine, actors=actors.resolver(engine, SECRET))
    asyncio.run(worker.drain(idle_s=0.0))


def test_a_facebook_comment_gets_a_signed_reply_and_a_like_exactly_once(
    engine: Engine, graph: tuple[FakeGraph, str]
) -> None:
    fake, url = graph
    page_feed_delivered(engine, url)
    conv_id, brand_id = conversation_of(engine, COMMENT)
    jo = agent_of(engine, brand_id)
    with transaction(engine) as s:
        version = conversations_repo.state(s, conv_id)
        assert version is not None
        replies.queue_reply(
            s, jo, conv_id, "So sorry, Dana. We are tracing it now.", version.version
        )
        engagement.compliment_click(s, jo, conv_id, ("like",))
    drain(engine)
    drain(engine)  # a second round finds nothing left to send
    edges = [(c["edge"], c["parent"]) for c in fake.comments]
    # The reply and the like go to the thread's newest customer comment, each once.
    assert sorted(edges) == sorted([("comments", ANSWER), ("likes", ANSWER)])
    reply = next(c for c in fake.comments if c["edge"] == "comments")
    assert reply["message"] == "So sorry, Dana. We are tracing it now. ^JA"
    with transaction(engine) as s:
        states = {j.kind.value: j.state.value for j in s.scalars(select(OutboundJob))}
    assert states == {"reply": "sent", "like": "sent"}


def test_a_meta_dm_handoff_is_a_private_reply_to_the_comment(
    engine: Engine, graph: tuple[FakeGraph, str]
) -> None:
    fake, url = graph
    page_feed_delivered(engine, url)
    conv_id, brand_id = conversation_of(engine, COMMENT)
    jo = agent_of(engine, brand_id)
    with transaction(engine) as s:
        handoff.handoff(s, jo, conv_id, "dm", HandoffSettings(), "What is your file number?")
    drain(engine)
    assert [c["edge"] for c in fake.comments] == ["messages"]
    # To the conversation's customer (Dana), not to whoever wrote last in the thread.
    assert fake.comments[0]["recipient"] == {"comment_id": COMMENT}


def test_an_x_dm_handoff_goes_to_the_numeric_user_id(engine: Engine) -> None:
    complaint = tweet("@acmeair my flight was cancelled and nobody answers", author="2244994945")
    server = FakeX(script=[("tweet", complaint)])
    with serve(server.app()) as host:
        source_id = make_source(
            engine,
            "x",
            {
                "bearer_token": server.bearer,
                "user_token": server.user_token,
                "user_id": BRAND_ID,
                "queries": ["@acmeair"],
                "base_url": f"http://{host}",
            },
        )
        live.run(engine, x_connector(server, host), source_id)  # the stream, into the pipeline
        conv_id, brand_id = conversation_of(engine, complaint["id"])
        jo = agent_of(engine, brand_id)
        with transaction(engine) as s:
            handoff.handoff(s, jo, conv_id, "dm", HandoffSettings(), "Please DM your booking ref")
            address = s.scalar(select(Handoff.address))
        drain(engine)
    assert [pid for pid, _ in server.dms] == ["2244994945"]  # the user id, not a handle
    assert server.dms[0][1] == "Please DM your booking ref ^JA"
    with transaction(engine) as s:
        thread = conversations_repo.thread(s, conv_id)
        dm = [p for p in thread if p.from_brand]
        assert [p.private for p in dm] == [True]  # kept in the thread as a direct message
        target = engagement_repo.target_post(s, conv_id)
        assert target is not None and target.external_id == complaint["id"]
    assert address is not None
