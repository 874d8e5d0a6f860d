"""Fixtures for protocol tests: a brand and a source bound to it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from earful.brands.service import create_brand
from earful.db import transaction
from earful.inbox.repository import _search_clause
from earful.models import Conversation, Erasure, Post
from earful.models.customer import erasure_key
from earful.pipeline.runner import default_classifier
from earful.sources.service import add_source

SECRET = "test-secret-key"


def make_source(engine: Engine, kind: str, settings: dict[str, object] | None = None) -> int:
    with transaction(engine) as session:
        brand = create_brand(session, "acme", "Acme Air", ["acmeair"], {})
        source = add_source(
            session,
            kind=kind,
            name=f"{kind}:acme",
            brand_id=brand.id,
            settings=dict(settings or {}),
            secret_key=SECRET,
        )
        return source.id


@pytest.fixture
def secret() -> str:
    return SECRET


def found_by_search(engine: Engine, words: str) -> int:
    """Conversations the inbox's search clause finds for ``words`` (SQLite's FTS5 table,
    PostgreSQL's text-search index)."""
    with transaction(engine) as session:
        clause = _search_clause(session, words, Conversation.id)
        assert clause is not None
        return len(session.scalars(select(Conversation.id).where(clause)).all())


def assert_redacted(engine: Engine, network: str, external_id: str) -> None:
    """A post the network deleted: its words, raw payload and link are gone, a tombstone
    keeps a replay from storing it again."""
    with transaction(engine) as session:
        post = session.scalars(
            select(Post).where(Post.network == network, Post.external_id == external_id)
        ).one()
        assert post.deleted_at is not None
        assert (post.text, post.raw, post.url) == ("", None, None)
        assert session.get(Erasure, erasure_key("post", network, external_id)) is not None


def assert_relabelled(engine: Engine, network: str, external_id: str) -> None:
    """An edited post carries the shipped models' labels of its new text."""
    with transaction(engine) as session:
        post = session.scalars(
            select(Post).where(Post.network == network, Post.external_id == external_id)
        ).one()
        model = default_classifier()
        labels = model.classify([post.text])[0]
        assert post.edited_at is not None and post.model_version == model.version
        assert (post.sentiment, post.intent, post.urgency) == (
            labels.sentiment,
            labels.intent,
            labels.urgency,
        )
