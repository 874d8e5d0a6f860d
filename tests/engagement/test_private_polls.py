"""Private messages heard by polling, answered once on the same channel, through the
production path: the network's fake API → the polling source (``x_dm``: ``GET
/2/dm_events``; ``bluesky_chat``: ``chat.bsky.convo.getLog``) → the private store, with
its cursor → an agent answers → the outbound worker → the network's DM endpoint."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select

from earful.db import transaction
from earful.models import Conversation, DeadLetter, Identity, Post, Source
from earful.sources import live
from earful.sources.service import add_source, run_source
from tests.engagement.test_private_channels import (
    DANA,
    agent_of,
    answer,
    drain,
    private_conversation,
    thread,
)
from tests.protocol.conftest import SECRET, make_source
from tests.protocol.fake_bluesky_chat import FakeBlueskyChat
from tests.protocol.fake_x import BRAND_ID, FakeX, tweet
from tests.protocol.server import serve
from tests.protocol.test_bluesky import connector as bsky_connector
from tests.protocol.test_x import connector as x_connector

POLL = {"poll_s": 0.01, "idle_timeout": 0.3, "max_failures": 3}


def add_private_source(engine: Engine, like: int, kind: str, settings: dict[str, Any]) -> int:
    """A private-message source of the same brand as source ``like``."""
    with transaction(engine) as s:
        brand_id = s.scalar(select(Source.brand_id).where(Source.id == like))
        return add_source(
            s, kind=kind, name=f"{kind}-dms", brand_id=brand_id, settings=settings,
            secret_key=SECRET,
        ).id  # fmt: skip


def cursor_of(engine: Engine, source_id: int) -> str | None:
    with transaction(engine) as s:
        return s.scalar(select(Source.cursor).where(Source.id == source_id))


# ------------------------------------------------------------------ X: GET /2/dm_events


def test_x_dms_are_polled_page_by_page_from_a_stored_cursor_and_answered_once(
    engine: Engine,
) -> None:
    server = FakeX(script=[("tweet", tweet("@acmeair my bag never arrived", author=DANA))])
    with serve(server.app()) as host:
        x_source = make_source(
            engine, "x",
            {"bearer_token": server.bearer, "user_token": server.user_token,
             "user_id": BRAND_ID, "queries": ["@acmeair"], "base_url": f"http://{host}"},
        )  # fmt: skip
        live.run(engine, x_connector(server, host), x_source)  # her public tweet
        dm_source = add_private_source(
            engine, x_source, "x_dm",
            {"user_token": server.user_token, "user_id": BRAND_ID,
             "base_url": f"http://{host}", "page_size": 2},
        )  # fmt: skip
        for text in ("Booking ref QX7P2", "Flight 212", "Bag is blue"):
            server.direct(DANA, text)
        server.rate_limit_next = 1  # the first poll is told to wait for x-rate-limit-reset
        first = run_source(engine, dm_source, SECRET, **POLL)
        assert first.ingested == 3 and first.dead_lettered == 0
        assert server.rate_limit_next == 0  # it was answered 429, waited and asked again

        dm_conv = private_conversation(engine, "x", DANA, private=True)
        public = private_conversation(engine, "x", DANA, private=False)
        assert dm_conv.id != public.id and dm_conv.identity_id == public.identity_id
        assert [p.text for p in thread(engine, dm_conv.id)] == [
            "Booking ref QX7P2",
            "Flight 212",
            "Bag is blue",
        ]
        polls = [r for r in server.requests if r.startswith("GET /2/dm_events")]
        assert sum("pagination_token=p2" in r for r in polls) == 1  # three events, two pages
        assert all(
            "dm_event.fields=id%2Ctext%2Cevent_type%2Ccreated_at%2Cdm_conversation_id"
            "%2Csender_id%2Cparticipant_ids" in r and "expansions=sender_id" in r
            and "user.fields=username" in r
            for r in polls
        )  # fmt: skip
        newest = server.dm_events[-1]["id"]
        assert orjson.loads(cursor_of(engine, dm_source) or "{}") == {"since_id": newest}

        answer(engine, agent_of(engine, dm_conv.brand_id), dm_conv.id, "Tracing QX7P2 now.")
        drain(engine)
        drain(engine)
        assert server.dms == [(DANA, "Tracing QX7P2 now. ^JA")]

        # The next poll starts from the stored cursor: our answer (an echo) is skipped,
        # only her new message is stored, and paging stops at the first page that reaches
        # what was already stored (her message and our echo fill page one).
        server.direct(DANA, "Thanks!")
        before = len(server.requests)
        second = run_source(engine, dm_source, SECRET, **POLL)
        assert (second.ingested, second.duplicates) == (1, 0)
        pages = [r for r in server.requests[before:] if r.startswith("GET /2/dm_events")]
        assert "pagination_token" not in pages[0] and "pagination_token=p2" in pages[1]
        assert not any("pagination_token=p4" in r for r in pages)  # later rounds: page one
    texts = [(p.text, p.from_brand) for p in thread(engine, dm_conv.id)]
    assert len(texts) == 5 and ("Thanks!", False) in texts
    assert [t for t in texts if t[1]] == [("Tracing QX7P2 now. ^JA", True)]  # stored once
    assert len(server.dms) == 1


def test_a_malformed_x_dm_event_is_dead_lettered_and_the_rest_stored(engine: Engine) -> None:
    server = FakeX(script=[])
    with serve(server.app()) as host:
        sid = make_source(
            engine, "x_dm",
            {"user_token": server.user_token, "user_id": BRAND_ID, "base_url": f"http://{host}"},
        )  # fmt: skip
        server.direct(DANA, "first")
        server.direct(DANA, "second")["created_at"] = "yesterday"
        summary = run_source(engine, sid, SECRET, **POLL)
    assert (summary.ingested, summary.dead_lettered) == (1, 1)
    with transaction(engine) as s:
        reasons = list(s.scalars(select(DeadLetter.reason)))
        texts = list(s.scalars(select(Post.text)))
    assert texts == ["first"] and len(reasons) == 1 and "created_at" in reasons[0]


# ------------------------------------------------------------------ Bluesky chat

CUSTOMER = "did:plc:eygmaihciaxprqvxpfvl6flk"  # the first poster of the Jetstream sample


def test_bluesky_chat_is_polled_through_the_pds_and_answered_once_by_send_message(
    engine: Engine,
) -> None:
    server = FakeBlueskyChat(handles={CUSTOMER: "dana.bsky.social"}, expired_status=401)
    with serve(server.app()) as host:
        public_source = make_source(
            engine, "bluesky",
            {"jetstream_url": f"ws://{host}/subscribe", "pds_url": f"http://{host}",
             "identifier": server.handle, "password": server.password},
        )  # fmt: skip
        live.run(engine, bsky_connector(host), public_source)  # her public complaint
        chat_source = add_private_source(
            engine, public_source, "bluesky_chat",
            {"pds_url": f"http://{host}", "identifier": server.handle,
             "password": server.password},
        )  # fmt: skip
        server.dm(CUSTOMER, "hi, it is about my bag on 212")  # before the first run
        first = run_source(engine, chat_source, SECRET, **POLL)
        assert first.ingested == 1  # read by listConvos + getMessages (the log starts now)

        server.dm(CUSTOMER, "booking ref QX7P2")
        server.read(CUSTOMER)  # not a message
        server.expire_next = 1  # 401 ExpiredToken: the session is refreshed
        server.rate_limit_next = 1  # 429 until ratelimit-reset
        second = run_source(engine, chat_source, SECRET, **POLL)
        assert (second.ingested, second.dead_lettered) == (1, 0)
        assert "com.atproto.server.refreshSession" in server.calls
        assert (server.rate_limit_next, server.expire_next) == (0, 0)

        dm_conv = private_conversation(engine, "bluesky", CUSTOMER, private=True)
        public = private_conversation(engine, "bluesky", CUSTOMER, private=False)
        assert dm_conv.id != public.id and dm_conv.identity_id == public.identity_id
        assert [p.text for p in thread(engine, dm_conv.id)] == [
            "hi, it is about my bag on 212",
            "booking ref QX7P2",
        ]

        answer(engine, agent_of(engine, dm_conv.brand_id), dm_conv.id, "We found it.")
        drain(engine)
        drain(engine)
        convo = server.convo_with(CUSTOMER).id
        assert server.sent == [(convo, "We found it. ^JA")]

        third = run_source(engine, chat_source, SECRET, **POLL)  # our echo only
        assert (third.ingested, third.duplicates) == (0, 0)
    assert cursor_of(engine, chat_source) == server.log[-1]["rev"]
    ours = [p for p in thread(engine, dm_conv.id) if p.from_brand]
    assert [(p.text, p.private) for p in ours] == [("We found it. ^JA", True)]
    assert server.sent == [(convo, "We found it. ^JA")]


FRIEND = "did:plc:4w7ux7vzcn4ovp2ftvbvvmgm"  # another member of the group


def test_a_bluesky_group_chat_is_one_conversation_of_its_members_answered_in_the_group(
    engine: Engine,
) -> None:
    """Three members (the brand, Dana, Sam): each writer is their own author, all their
    messages one conversation keyed by the convo; the answer goes to the group, once,
    and Dana's one-to-one chat stays its own conversation."""
    server = FakeBlueskyChat(handles={CUSTOMER: "dana.bsky.social", FRIEND: "sam.bsky.social"})
    with serve(server.app()) as host:
        public_source = make_source(
            engine, "bluesky",
            {"jetstream_url": f"ws://{host}/subscribe", "pds_url": f"http://{host}",
             "identifier": server.handle, "password": server.password},
        )  # fmt: skip
        chat_source = add_private_source(
            engine, public_source, "bluesky_chat",
            {"pds_url": f"http://{host}", "identifier": server.handle,
             "password": server.password},
        )  # fmt: skip
        group = server.group(CUSTOMER, FRIEND)
        server.say(group, CUSTOMER, "our family booking QX7P2 lost two bags")
        first = run_source(engine, chat_source, SECRET, **POLL)  # listConvos + getMessages
        server.say(group, FRIEND, "mine is the blue one")
        server.dm(CUSTOMER, "and separately: my seat upgrade?")
        server.say(group, CUSTOMER, "any news?")
        second = run_source(engine, chat_source, SECRET, **POLL)  # from the log
        assert (first.ingested, second.ingested) == (1, 3)

        group_conv = private_conversation(engine, "bluesky", CUSTOMER, private=True)
        posts = thread(engine, group_conv.id)
        with transaction(engine) as s:
            authors = {i.id: (i.external_id, i.handle) for i in s.scalars(select(Identity))}
        assert [(authors[p.identity_id], p.text) for p in posts] == [
            ((CUSTOMER, "dana.bsky.social"), "our family booking QX7P2 lost two bags"),
            ((FRIEND, "sam.bsky.social"), "mine is the blue one"),
            ((CUSTOMER, "dana.bsky.social"), "any news?"),
        ]
        with transaction(engine) as s:
            convs = s.scalars(select(Conversation).where(Conversation.private.is_(True))).all()
            by_texts = {c.id: [p.text for p in thread(engine, c.id)] for c in convs}
        assert sorted(by_texts.values()) == sorted(
            [[p.text for p in posts], ["and separately: my seat upgrade?"]]
        )

        calls_before = len(server.calls)
        answer(engine, agent_of(engine, group_conv.brand_id), group_conv.id, "Both found.")
        drain(engine)
        drain(engine)
        assert server.sent == [(group.id, "Both found. ^JA")]  # the group, once
        assert "chat.bsky.convo.getConvoForMembers" not in server.calls[calls_before:]
        assert group.messages[-1]["text"] == "Both found. ^JA"

        third = run_source(engine, chat_source, SECRET, **POLL)  # our echo only
        assert (third.ingested, third.duplicates) == (0, 0)
    ours = [p for p in thread(engine, group_conv.id) if p.from_brand]
    assert [(p.text, p.private) for p in ours] == [("Both found. ^JA", True)]
