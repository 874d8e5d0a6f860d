"""Helpers for pipeline tests: a canonical dump of what the database holds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from earful.conversations.repository import export_rows
from earful.models import (
    Brand,
    Conversation,
    DeadLetter,
    Identity,
    MentionCount,
    Post,
    Source,
)


def canonical(engine: Engine) -> dict[str, Any]:
    """Everything that matters, without surrogate ids (sequences differ between runs)."""
    with engine.connect() as conn:
        posts = sorted(
            conn.execute(
                select(
                    Post.network,
                    Post.external_id,
                    Post.text,
                    Post.reply_to_external_id,
                    Post.from_brand,
                    Post.created_at,
                )
            ).all()
        )
        identities = sorted(conn.execute(select(Identity.network, Identity.external_id)).all())
        dead = sorted(
            conn.execute(
                select(DeadLetter.origin, DeadLetter.position, DeadLetter.reason, DeadLetter.raw)
            ).all()
        )
        sources = sorted(conn.execute(select(Source.name, Source.cursor)).all())
        subjects = dict(conn.execute(select(Conversation.id, Conversation.subject)).all())
        conversations = sorted(
            (c["brand"], c["status"], c["customer"], subjects[c["id"]] or "", tuple(c["posts"]))
            for c in export_rows(conn)
        )
        # The spike detector's per-window counts commit with the posts: exact as well.
        counts = sorted(
            conn.execute(
                select(
                    Brand.slug, MentionCount.kind, MentionCount.window_start, MentionCount.count
                ).join(Brand, Brand.id == MentionCount.brand_id)
            ).all()
        )
    return {
        "posts": posts,
        "identities": identities,
        "dead": dead,
        "sources": sources,
        "conversations": conversations,
        "mention_counts": counts,
    }


def conversation_of(engine: Engine) -> dict[str, set[str]]:
    """{post external id: the external ids of every post in its conversation(s)}."""
    out: dict[str, set[str]] = {}
    with engine.connect() as conn:
        for conv in export_rows(conn):
            members = set(conv["posts"])
            for ext in conv["posts"]:
                out.setdefault(ext, set()).update(members)
    return out
