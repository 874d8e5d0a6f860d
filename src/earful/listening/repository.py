"""Listening query SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from earful.models import Brand, Conversation, ConversationPost, Identity, ListeningQuery, Post


def by_id(session: Session, query_id: int) -> ListeningQuery | None:
    return session.get(ListeningQuery, query_id)


def by_name(session: Session, brand_id: int, name: str) -> ListeningQuery | None:
    return session.scalar(
        select(ListeningQuery).where(
            ListeningQuery.brand_id == brand_id, ListeningQuery.name == name
        )
    )


def for_brands(session: Session, brand_ids: list[int] | None = None) -> list[ListeningQuery]:
    stmt = select(ListeningQuery).order_by(ListeningQuery.brand_id, ListeningQuery.name)
    if brand_ids is not None:
        stmt = stmt.where(ListeningQuery.brand_id.in_(brand_ids))
    return list(session.scalars(stmt))


def enabled_queries(conn: Connection | Session) -> list[tuple[int, int, str]]:
    """(query id, brand id, text) of every enabled query, for the matcher."""
    rows = conn.execute(
        select(ListeningQuery.id, ListeningQuery.brand_id, ListeningQuery.query)
        .where(ListeningQuery.enabled.is_(True))
        .order_by(ListeningQuery.id)
    )
    return [(qid, brand_id, text) for qid, brand_id, text in rows]


def brand_keywords(
    conn: Connection | Session,
) -> list[tuple[int, list[str], dict[str, Any]]]:
    """(brand id, keywords, own accounts) of every brand."""
    rows = conn.execute(select(Brand.id, Brand.keywords, Brand.handles).order_by(Brand.id))
    return [(brand_id, list(words or []), dict(handles or {})) for brand_id, words, handles in rows]


def listening_texts(session: Session, brand_id: int) -> list[str]:
    """The texts of the brand's enabled listening queries, oldest first."""
    return list(
        session.scalars(
            select(ListeningQuery.query)
            .where(ListeningQuery.brand_id == brand_id, ListeningQuery.enabled.is_(True))
            .order_by(ListeningQuery.id)
        )
    )


def get_readable(session: Session, query_id: int, brand_ids: list[int]) -> ListeningQuery | None:
    return session.scalar(
        select(ListeningQuery).where(
            ListeningQuery.id == query_id, ListeningQuery.brand_id.in_(brand_ids)
        )
    )


def recent_brand_posts(
    session: Session, brand_id: int, since: datetime, limit: int = 500
) -> list[tuple[int, str, str, str | None, str | None, datetime]]:
    """(conversation id, network, text, author handle, language, time) of the customer
    posts threaded into the brand's conversations since ``since``: what a query's preview
    runs on (never another brand's posts)."""
    rows = session.execute(
        select(
            ConversationPost.conversation_id,
            Post.network,
            Post.text,
            Identity.handle,
            Post.language,
            Post.created_at,
        )
        .join(Post, Post.id == ConversationPost.post_id)
        .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        .join(Identity, Identity.id == Post.identity_id)
        .where(
            Conversation.brand_id == brand_id,
            Post.created_at >= since,
            Post.from_brand.is_(False),
            Post.deleted_at.is_(None),
        )
        .order_by(Post.created_at.desc())
        .limit(limit)
    ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]
