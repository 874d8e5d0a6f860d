"""Private messages in, answers back on the same channel, through the production path:
a signed Meta delivery (Messenger, Instagram) → the webhook → the private store → an
agent answers in the inbox → the outbound worker → the Send API fake, exactly once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from earful.auth.service import Principal, create_user, load_principal
from earful.connectors import meta, x_activity
from earful.conversations import repository as conversations_repo
from earful.customers import repository as customers_repo
from earful.db import transaction
from earful.engagement import replies
from earful.engagement import service as engagement
from earful.engagement.worker import OutboundWorker
from earful.errors import Conflict
from earful.models import (
    Conversation,
    ConversationPost,
    DeadLetter,
    Identity,
    MentionCount,
    OutboundJob,
    Post,
    Role,
    Source,
)
from earful.sources import actors, live
from earful.sources.service import add_source
from tests.fakes.network import FakeSendApi, serve
from tests.protocol.conftest import SECRET, make_source
from tests.protocol.fake_mastodon import FakeMastodon
from tests.protocol.fake_mastodon import status as masto_status
from tests.protocol.fake_x import BRAND_ID, FakeX, tweet
from tests.protocol.server import serve as serve_x
from tests.protocol.test_mastodon import connector as masto_connector
from tests.protocol.test_webhooks import APP_SECRET, SAMPLES, delivery, signed
from tests.protocol.test_x import connector as x_connector

PSID = "7110000000000001"
IGSID = "5220000000000007"
PAGE = "104680012345678"
DANA = "2244994945"
CONSUMER_SECRET = "x-consumer-secret"


@pytest.fixture
def send_api() -> Iterator[tuple[FakeSendApi, str]]:
    fake = FakeSendApi(page_id=PAGE, known_users={PSID, IGSID})
    with serve(fake) as base:
        yield fake, f"{base}/v21.0"


def meta_source(engine: Engine, graph_url: str) -> tuple[TestClient, int]:
    sid = make_source(
        engine,
        "meta",
        {
            "app_secret": APP_SECRET,
            "verify_token": "vt-123",
            "page_token": "page-token",
            "page_id": PAGE,
            "graph_url": graph_url,
        },
    )
    app = FastAPI()
    app.include_router(meta.router(engine, SECRET, graph_url=graph_url))
    return TestClient(app), sid


def agent_of(engine: Engine, brand_id: int) -> Principal:
    with transaction(engine) as s:
        user = create_user(
            s, "jo@acme.example", "Jo Agent", "correct horse battery", {brand_id: Role.AGENT}
        )
        principal = load_principal(s, user.id)
        assert principal is not None
        return principal


def private_conversation(
    engine: Engine, network: str, author: str, private: bool = True
) -> Conversation:
    with transaction(engine) as s:
        conv = s.scalar(
            select(Conversation)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(
                Identity.network == network,
                Identity.external_id == author,
                Conversation.private.is_(private),
            )
        )
        assert conv is not None
        s.expunge(conv)
        return conv


def thread(engine: Engine, conv_id: int) -> list[Post]:
    with transaction(engine) as s:
        posts = list(
            s.scalars(
                select(Post)
                .join(ConversationPost, ConversationPost.post_id == Post.id)
                .where(ConversationPost.conversation_id == conv_id)
                .order_by(Post.created_at, Post.id)
            )
        )
        s.expunge_all()
        return posts


def answer(engine: Engine, agent: Principal, conv_id: int, text: str) -> None:
    with transaction(engine) as s:
        state = conversations_repo.state(s, conv_id)
        assert state is not None
        replies.queue_reply(s, agent, conv_id, text, state.version)


def drain(engine: Engine) -> None:
    worker = OutboundWorker(engine, actors=actors.resolver(engine, SECRET))
    asyncio.run(worker.drain(idle_s=0.0))


def test_messenger_messages_are_one_private_conversation_answered_once_by_the_send_api(
    engine: Engine, send_api: tuple[FakeSendApi, str]
) -> None:
    fake, url = send_api
    client, sid = meta_source(engine, url)
    body = delivery("meta_messenger.json")
    r = client.post(f"/webhooks/meta/{sid}", content=body, headers=signed(body))
    assert r.status_code == 200, r.text
    # Two messages; the read receipt and the page's own echo are not customer messages.
    assert r.json() == {"stored": 2, "rejected": 0}
    conv = private_conversation(engine, "facebook", PSID)
    assert conv.private and conv.subject and conv.subject.startswith("Hi, my suitcase")
    posts = thread(engine, conv.id)
    assert [p.text for p in posts][1] == "[image attached]"
    assert all(p.private and not p.from_brand for p in posts)
    with transaction(engine) as s:  # a DM is no public mention: spikes never count it
        assert s.scalar(select(func.count()).select_from(MentionCount)) == 0

    agent = agent_of(engine, conv.brand_id)
    answer(engine, agent, conv.id, "So sorry! Could you send the bag tag number?")
    with transaction(engine) as s, pytest.raises(Conflict):  # never liked or thanked in public
        engagement.compliment_click(s, agent, conv.id, ("like",))
    drain(engine)
    drain(engine)  # a second round finds nothing left to send
    assert fake.sent == [
        {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"text": "So sorry! Could you send the bag tag number? ^JA"},
        }
    ]
    with transaction(engine) as s:
        job = s.scalar(select(OutboundJob))
        assert job is not None and (job.kind.value, job.state.value) == ("dm", "sent")
    ours = [p for p in thread(engine, conv.id) if p.from_brand]
    assert [(p.external_id, p.private) for p in ours] == [("m_sent1", True)]

    # The customer writes again: the same conversation, open again.
    again = delivery("meta_messenger.json").replace(b"m_photo0002", b"m_text0003")
    r = client.post(f"/webhooks/meta/{sid}", content=again, headers=signed(again))
    assert r.json() == {"stored": 1, "rejected": 0}  # the first message is a duplicate
    assert private_conversation(engine, "facebook", PSID).id == conv.id
    assert len(thread(engine, conv.id)) == 4


def test_an_instagram_direct_message_is_answered_through_instagram_messaging(
    engine: Engine, send_api: tuple[FakeSendApi, str]
) -> None:
    fake, url = send_api
    client, sid = meta_source(engine, url)
    body = delivery("meta_instagram_dm.json")
    r = client.post(f"/webhooks/meta/{sid}", content=body, headers=signed(body))
    assert r.json() == {"stored": 1, "rejected": 0}
    conv = private_conversation(engine, "instagram", IGSID)
    assert conv.private
    answer(engine, agent_of(engine, conv.brand_id), conv.id, "Checking booking QX7P2 now.")
    drain(engine)
    assert [(d["recipient"], d["message"]["text"]) for d in fake.sent] == [
        ({"id": IGSID}, "Checking booking QX7P2 now. ^JA")
    ]


def test_unsigned_messages_are_refused_and_malformed_ones_dead_lettered(
    engine: Engine, send_api: tuple[FakeSendApi, str]
) -> None:
    _, url = send_api
    client, sid = meta_source(engine, url)
    body = delivery("meta_messenger.json")
    r = client.post(f"/webhooks/meta/{sid}", content=body)
    assert r.status_code == 401
    r = client.post(f"/webhooks/meta/{sid}", content=body, headers=signed(body, "not-the-secret"))
    assert r.status_code == 401
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Post)) == 0

    # A message without its sender, one without its id, an entry whose messaging is not a
    # list: each is kept with its reason, and the delivery is still acknowledged.
    doc = orjson.loads(delivery("meta_messenger.json"))
    events = doc["entry"][0]["messaging"]
    del events[0]["sender"]
    del events[3]["message"]["mid"]
    doc["entry"].append({"id": PAGE, "time": doc["entry"][0]["time"], "messaging": "oops"})
    bad = orjson.dumps(doc)
    r = client.post(f"/webhooks/meta/{sid}", content=bad, headers=signed(bad))
    assert r.status_code == 200, r.text
    assert r.json() == {"stored": 0, "rejected": 3}
    with transaction(engine) as s:
        reasons = sorted(s.scalars(select(DeadLetter.reason)))
    assert reasons == ["message without sender", "messaging is not a list", "missing message.mid"]


# ------------------------------------------------------------------ X direct messages


def x_delivery(at: float | None = None) -> bytes:
    text = (SAMPLES / "x_activity_dm.json").read_text()
    text = text.replace("BRAND", BRAND_ID).replace("TIME", str(int(at or time.time())))
    return orjson.dumps(orjson.loads(text))


def x_signed(body: bytes, secret: str = CONSUMER_SECRET) -> dict[str, str]:
    mac = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"x-twitter-webhooks-signature": f"sha256={mac}", "Content-Type": "application/json"}


def test_an_x_dm_threads_with_the_customers_public_tweets_and_is_answered_by_dm(
    engine: Engine,
) -> None:
    complaint = tweet("@acmeair my bag never arrived, flight 212", author=DANA)
    server = FakeX(script=[("tweet", complaint)])
    with serve_x(server.app()) as host:
        x_source = make_source(
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
        live.run(engine, x_connector(server, host), x_source)  # her public tweet
        with transaction(engine) as s:
            brand_id = s.scalar(select(Source.brand_id).where(Source.id == x_source))
            dm_source = add_source(
                s, kind="x_activity", name="x-dms", brand_id=brand_id,
                settings={"consumer_secret": CONSUMER_SECRET}, secret_key=SECRET,
            ).id  # fmt: skip
        app = FastAPI()
        app.include_router(x_activity.router(engine, SECRET))
        client = TestClient(app)

        # The challenge-response check X runs when the webhook is registered.
        r = client.get(f"/webhooks/x/{dm_source}", params={"crc_token": "challenge-1"})
        expected = hmac.new(CONSUMER_SECRET.encode(), b"challenge-1", hashlib.sha256).digest()
        assert r.json() == {"response_token": "sha256=" + base64.b64encode(expected).decode()}

        body = x_delivery()
        assert client.post(f"/webhooks/x/{dm_source}", content=body).status_code == 401
        r = client.post(f"/webhooks/x/{dm_source}", content=body, headers=x_signed(body, "no"))
        assert r.status_code == 401
        r = client.post(f"/webhooks/x/{dm_source}", content=body, headers=x_signed(body))
        # Her message; the brand's own (an echo) and the like are not customer messages.
        assert r.json() == {"stored": 1, "rejected": 0}

        dm_conv = private_conversation(engine, "x", DANA, private=True)
        public = private_conversation(engine, "x", DANA, private=False)
        assert dm_conv.id != public.id and dm_conv.identity_id == public.identity_id
        with transaction(engine) as s:  # the DM's customer panel shows her public thread
            ident, _, linked = customers_repo.identity_and_customer(s, dm_conv.identity_id)
            others = customers_repo.other_conversations(
                s, [i.id for i in linked], [brand_id], dm_conv.id
            )
        assert ident.handle == "traveller" and [o[0] for o in others] == [public.id]

        answer(engine, agent_of(engine, brand_id), dm_conv.id, "Got it, tracing QX7P2.")
        drain(engine)
        drain(engine)
    assert server.dms == [(DANA, "Got it, tracing QX7P2. ^JA")]
    assert [t for t in server.tweets.values() if t["author_id"] == BRAND_ID] == []  # no tweet
    ours = [p for p in thread(engine, dm_conv.id) if p.from_brand]
    assert [p.private for p in ours] == [True]


# ------------------------------------------------------------------ Mastodon direct statuses


def test_a_mastodon_direct_status_is_private_and_answered_directly_in_its_thread(
    engine: Engine,
) -> None:
    public = masto_status("Lost my bag on flight 212 #acmeair")
    direct = masto_status("@acme my booking is QX7P2, please help", visibility="direct")
    server = FakeMastodon(script=[("update", public), ("update", direct)])
    with serve_x(server.app()) as host:
        sid = make_source(
            engine,
            "mastodon",
            {"base_url": f"http://{host}", "access_token": server.token, "tag": "acmeair"},
        )
        summary = live.run(engine, masto_connector(server, host), sid)
        assert summary.ingested == 2
        dm_conv = private_conversation(engine, "mastodon", f"{host}/109000000000000001")
        public_conv = private_conversation(
            engine, "mastodon", f"{host}/109000000000000001", private=False
        )
        assert dm_conv.identity_id == public_conv.identity_id  # the same customer
        assert [p.text for p in thread(engine, dm_conv.id)] == [
            "@acme my booking is QX7P2, please help"
        ]
        assert [p.private for p in thread(engine, public_conv.id)] == [False]

        answer(engine, agent_of(engine, dm_conv.brand_id), dm_conv.id, "On it, Dana.")
        drain(engine)
        drain(engine)
    ours = [s for s in server.statuses.values() if s["account"]["acct"].startswith("acme@")]
    assert [(s["visibility"], s["in_reply_to_id"]) for s in ours] == [("direct", direct["id"])]
    assert ours[0]["content"] == "<p>@traveller@social.example On it, Dana. ^JA</p>"
