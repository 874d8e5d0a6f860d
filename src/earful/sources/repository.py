"""All SQL about sources and about what connectors change in stored posts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, update
from sqlalchemy.orm import Session

from earful.models import Post, Source
from earful.models.base import utcnow

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
    now = utcnow()
    values: dict[str, Any] = {"status": status, "status_reason": reason, "updated_at": now}
    if status == "failing":  # kept after it recovers: the admin's "last error"
        values.update(last_error=reason or "failing", last_error_at=now)
    conn.execute(update(sources_t).where(sources_t.c.id == source_id).values(**values))


def heard(conn: Connection, source_id: int, at: datetime) -> None:
    """The source brought something at ``at`` (its "last event" on the sources page)."""
    conn.execute(update(sources_t).where(sources_t.c.id == source_id).values(last_event_at=at))


def is_heard(conn: Connection, source_id: int) -> bool:
    """The source still exists and is not paused: what it brings may be stored."""
    paused = conn.scalar(select(sources_t.c.paused).where(sources_t.c.id == source_id))
    return paused is not None and not paused


def wanted(conn: Connection, push_kinds: frozenset[str]) -> dict[int, str]:
    """Every source a listener should hear now (not paused, not a webhook), each with a
    fingerprint of what it is built from: a changed fingerprint means rebuild it."""
    rows = conn.execute(
        select(
            sources_t.c.id,
            sources_t.c.name,
            sources_t.c.kind,
            sources_t.c.brand_id,
            sources_t.c.config,
        )
        .where(sources_t.c.paused.is_(False), sources_t.c.kind.not_in(push_kinds))
        .order_by(sources_t.c.id)
    )
    return {
        row.id: json.dumps([row.name, row.kind, row.brand_id, row.config], sort_keys=True)
        for row in rows
    }


def delete(session: Session, source: Source) -> None:
    session.delete(source)
    session.flush()
