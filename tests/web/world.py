"""Two brands, their agents and conversations: the fixture every web test stands on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from earful.auth.service import create_token, create_user
from earful.brands.service import create_brand
from earful.connectors.base import Batch
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.models import (
    CannedReply,
    ConversationTag,
    Note,
    Post,
    Reply,
    ReplyStatus,
    Role,
    SavedView,
)
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import PostIn
from earful.pipeline.stages import NullClassifier
from earful.web.app import create_app

PASSWORD = "correct horse battery"
SECRET_B = "ZEBRASECRET"  # appears only in brand B's data


@dataclass
class World:
    engine: Engine
    brand_a: int = 0
    brand_b: int = 0
    slug_a: str = "acme"
    slug_b: str = "bolt"
    convs_a: list[int] = field(default_factory=list)
    convs_b: list[int] = field(default_factory=list)
    reply_b: int = 0
    canned_a: int = 0
    canned_b: int = 0
    view_b: int = 0
    token_b_id: int = 0
    token_a: str = ""
    users: dict[str, int] = field(default_factory=dict)


def add_conversation(
    session: object,
    brand_id: int,
    n: int,
    text: str,
    author: str,
    network: str = "bluesky",
    urgency: int | None = None,
    sentiment: str | None = None,
    minutes_ago: int = 30,
) -> int:
    """A customer's post, stored through the ingest pipeline (bound to the brand, as a
    source of that brand would be): the conversation, its status and its subject are the
    pipeline's. The labels are set as a classifier would have set them."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    conn = session.connection()
    post = PostIn(
        network=network,
        external_id=f"p-{brand_id}-{n}",
        author_id=f"{author}-{brand_id}-{n}",
        text=text,
        created_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        author_handle=author,
        author_name=author,
        language="en",
    )
    pipeline = Pipeline(conn.engine, classifier=NullClassifier())
    stored = pipeline.process(conn, Batch([post]), "tests", source_brand=brand_id, detect=False)
    [(_, conv_id, post_id)] = stored.events
    session.execute(
        update(Post).where(Post.id == post_id).values(urgency=urgency, sentiment=sentiment)
    )
    return conv_id


def build_world(engine: Engine, per_brand: int = 3) -> World:
    w = World(engine)
    with transaction(engine) as s:
        a = create_brand(s, w.slug_a, "Acme Air")
        b = create_brand(s, w.slug_b, f"Bolt {SECRET_B}")
        w.brand_a, w.brand_b = a.id, b.id
        for name, brands in {
            "alice": {a.id: Role.ADMIN},
            "agent": {a.id: Role.AGENT},
            "viewer": {a.id: Role.VIEWER},
            "bob": {b.id: Role.ADMIN},
        }.items():
            w.users[name] = create_user(s, f"{name}@example.org", name.title(), PASSWORD, brands).id
        for i in range(per_brand):
            w.convs_a.append(
                add_conversation(s, a.id, i, f"my flight {i} was late", f"anna{i}", urgency=i % 3)
            )
            w.convs_b.append(
                add_conversation(
                    s, b.id, i, f"{SECRET_B} bolt order {i} broken", f"{SECRET_B}user{i}"
                )
            )
        conversations_repo.refresh_states(s, w.convs_a + w.convs_b)
        cb = w.convs_b[0]
        s.add(Note(conversation_id=cb, brand_id=b.id, author_id=w.users["bob"], text=SECRET_B))
        s.add(ConversationTag(conversation_id=cb, tag="btag", brand_id=b.id))
        reply = Reply(
            conversation_id=cb,
            brand_id=b.id,
            author_id=w.users["bob"],
            text=SECRET_B,
            status=ReplyStatus.HELD,
            based_on_version=0,
        )
        s.add(reply)
        canned_a = CannedReply(brand_id=a.id, name="Sorry", body="Sorry {customer}, {agent} here")
        canned_b = CannedReply(brand_id=b.id, name=SECRET_B, body=SECRET_B)
        view_b = SavedView(user_id=w.users["bob"], name=SECRET_B, filters={"q": SECRET_B})
        s.add_all([canned_a, canned_b, view_b])
        s.flush()
        w.reply_b, w.canned_a, w.canned_b, w.view_b = reply.id, canned_a.id, canned_b.id, view_b.id
        tok_b, _ = create_token(s, w.users["bob"], SECRET_B)
        w.token_b_id = tok_b.id
        _, w.token_a = create_token(s, w.users["alice"], "integration")
    return w


def client(engine: Engine) -> TestClient:
    app = create_app(engine, secret_key="test-secret-key-0123456789abcdef", live=False)
    return TestClient(app, base_url="https://testserver")


CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def login(c: TestClient, who: str) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = c.post(
        "/login",
        data={"email": f"{who}@example.org", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    inbox = c.get("/inbox")
    m = CSRF.search(inbox.text)
    assert m, inbox.text[:500]
    return m.group(1)
