"""A brand, an agent and a complaint heard on a (fake) Mastodon server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine

from earful.auth.service import Principal, create_user
from earful.brands.service import create_brand
from earful.connectors.base import Actor
from earful.connectors.mastodon import Mastodon
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.models import (
    Conversation,
    ConversationPost,
    ConversationStatus,
    Customer,
    Identity,
    Post,
    Role,
)
from tests.fakes.network import FakeNetwork

PASSWORD = "correct horse battery"


@dataclass
class Desk:
    engine: Engine
    brand_id: int
    agent: Principal
    conv_id: int
    post_sid: str
    base_url: str


def complaint(
    engine: Engine,
    fake: FakeNetwork,
    base_url: str,
    text: str = "Lost my bag on flight 212, nobody answers the phone!",
    email: str | None = None,
    slug: str = "acme",
) -> Desk:
    sid = fake.seed(text, "alice")
    instance = urlsplit(base_url).netloc
    when = datetime.now(UTC) - timedelta(minutes=20)
    with transaction(engine) as s:
        brand = create_brand(s, slug, "Acme Air", handles={"mastodon": ["acme"]})
        user = create_user(
            s, f"jane@{slug}.example", "Jane Smith", PASSWORD, {brand.id: Role.AGENT}
        )
        customer = Customer(display_name="Alice Doe", email=email)
        s.add(customer)
        s.flush()
        ident = Identity(
            network="mastodon",
            external_id=f"{instance}/acct/alice",
            handle="alice",
            display_name="Alice Doe",
            customer_id=customer.id,
        )
        s.add(ident)
        s.flush()
        post = Post(
            network="mastodon",
            external_id=f"{instance}/{sid}",
            identity_id=ident.id,
            text=text,
            created_at=when,
            sentiment="negative",
            sentiment_score=-0.8,
            intent="complaint",
            urgency=2,
            language="en",
        )
        s.add(post)
        s.flush()
        conv = Conversation(
            brand_id=brand.id,
            identity_id=ident.id,
            status=ConversationStatus.NEW,
            subject=text[:200],
            first_post_at=when,
            last_post_at=when,
            post_count=1,
        )
        s.add(conv)
        s.flush()
        s.add(ConversationPost(conversation_id=conv.id, post_id=post.id))
        s.flush()
        conversations_repo.refresh_states(s, [conv.id])
        agent = Principal(user.id, user.name, user.email, {brand.id: Role.AGENT})
        return Desk(engine, brand.id, agent, conv.id, sid, base_url)


def mastodon_actors(base_url: str, timeout: float = 1.0):  # type: ignore[no-untyped-def]
    """An actor resolver: the real Mastodon connector pointed at the fake."""

    def resolve(brand_id: int, network: str) -> Actor:
        actor = Mastodon(base_url, access_token="tok", stream="public")
        actor._client = httpx.AsyncClient(timeout=timeout, headers={"Authorization": "Bearer tok"})
        return actor

    return resolve
