"""Conversation queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from earful.models import Brand, Conversation, ConversationPost, Identity, Post


def export_rows(conn: Connection, brand_slug: str | None = None) -> Iterator[dict[str, Any]]:
    """Every conversation with its posts' external ids in time order, streamed."""
    q = (
        select(
            Conversation.id,
            Brand.slug,
            Conversation.status,
            Identity.network,
            Identity.external_id,
            Conversation.first_post_at,
            Post.external_id,
        )
        .join(Brand, Brand.id == Conversation.brand_id)
        .join(Identity, Identity.id == Conversation.identity_id)
        .join(ConversationPost, ConversationPost.conversation_id == Conversation.id)
        .join(Post, Post.id == ConversationPost.post_id)
        .order_by(
            Brand.slug,
            Conversation.first_post_at,
            Conversation.id,
            Post.created_at,
            Post.external_id,
        )
    )
    if brand_slug:
        q = q.where(Brand.slug == brand_slug)
    current: dict[str, Any] | None = None
    for cid, slug, status, network, author, first, ext in conn.execute(q):
        if current is None or current["id"] != cid:
            if current is not None:
                yield current
            current = {
                "id": cid,
                "brand": slug,
                "status": str(status.value if hasattr(status, "value") else status),
                "network": network,
                "customer": author,
                "started_at": first.isoformat(),
                "posts": [],
            }
        current["posts"].append(ext)
    if current is not None:
        yield current
