"""A brand, an agent and a complaint heard on a (fake) Mastodon server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, update

from earful.auth.service import Principal, create_user
from earful.brands.service import create_brand
from earful.connectors.base import Actor, Batch
from earful.connectors.mastodon import Mastodon
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.models import Customer, Identity, Post, Role
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import PostIn
from earful.pipeline.stages import NullClassifier
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
        # Alice's post, stored by the ingest pipeline as a source of the brand would store
        # it (the conversation, its status and subject are the pipeline's); the labels are
        # what a classifier would say, and Alice is a known customer.
        conn = s.connection()
        post = PostIn(
            network="mastodon",
            external_id=f"{instance}/{sid}",
            author_id=f"{instance}/acct/alice",
            text=text,
            created_at=when,
            author_handle="alice",
            author_name="Alice Doe",
            language="en",
        )
        pipeline = Pipeline(engine, classifier=NullClassifier())
        stored = pipeline.process(conn, Batch([post]), "tests", source_brand=brand.id, detect=False)
        [(_, conv_id, post_id)] = stored.events
        s.execute(
            update(Post)
            .where(Post.id == post_id)
            .values(
                sentiment="negative",
                sentiment_score=-0.8,
                intent="complaint",
                urgency=2,
            )
        )
        customer = Customer(display_name="Alice Doe", email=email)
        s.add(customer)
        s.flush()
        s.execute(
            update(Identity)
            .where(Identity.network == "mastodon", Identity.external_id == post.author_id)
            .values(customer_id=customer.id)
        )
        conversations_repo.refresh_states(s, [conv_id])
        agent = Principal(user.id, user.name, user.email, {brand.id: Role.AGENT})
        return Desk(engine, brand.id, agent, conv_id, sid, base_url)


def mastodon_actors(base_url: str, timeout: float = 1.0):  # type: ignore[no-untyped-def]
    """An actor resolver: the real Mastodon connector pointed at the fake."""

    def resolve(brand_id: int, network: str) -> Actor:
        actor = Mastodon(base_url, access_token="tok", stream="public")
        actor._client = httpx.AsyncClient(timeout=timeout, headers={"Authorization": "Bearer tok"})
        return actor

    return resolve
