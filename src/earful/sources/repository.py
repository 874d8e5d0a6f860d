"""All SQL about sources and about what connectors change in stored posts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from earful.models import Post, Source
from earful.models.base import utcnow
from earful.pipeline.schema import PostIn

posts_t: Table = Post.__table__  # type: ignore[assignment]
sources_t: Table = Source.__table__  # type: ignore[assignment]


def add(session: Session, source: Source) -> Source:
    session.add(source)
    session.flush()
    return source


def by_id(session: Session, source_id: int) -> Source | None:
    return session.get(Source, source_id)


def by_name(session: Session, name: str) -> Source | None:
    return session.scalar(select(Source).where(Source.name == name))


def listed(session: Session, brand_ids: Sequence[int] | None = None) -> list[Source]:
    q = select(Source).order_by(Source.id)
    if brand_ids is not None:
        q = q.where(Source.brand_id.in_(brand_ids))
    return list(session.scalars(q))


def set_health(conn: Connection, source_id: int, status: str, reason: str | None) -> None:
    conn.execute(
        update(sources_t)
        .where(sources_t.c.id == source_id)
        .values(status=status, status_reason=reason, updated_at=utcnow())
    )


def mark_deleted(conn: Connection, keys: Sequence[tuple[str, str]], at: datetime) -> int:
    """Mark posts deleted on their network; returns how many stored posts that was."""
    if not keys:
        return 0
    result = conn.execute(
        update(posts_t)
        .where(
            posts_t.c.network == bindparam("n"),
            posts_t.c.external_id == bindparam("e"),
            posts_t.c.deleted_at.is_(None),
        )
        .values(deleted_at=at),
        [{"n": n, "e": e} for n, e in keys],
    )
    return int(result.rowcount or 0)


def apply_edits(conn: Connection, edits: Sequence[PostIn], at: datetime) -> set[tuple[str, str]]:
    """Replace the text of stored posts by their edited version; returns the keys found."""
    found: set[tuple[str, str]] = set()
    for post in edits:
        values: dict[str, Any] = {"text": post.text, "edited_at": at}
        if post.raw is not None:
            values["raw"] = post.raw
        result = conn.execute(
            update(posts_t)
            .where(
                posts_t.c.network == post.network,
                posts_t.c.external_id == post.external_id,
            )
            .values(**values)
        )
        if result.rowcount:
            found.add((post.network, post.external_id))
    return found
