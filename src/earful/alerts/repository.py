"""All SQL of spike alerts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Connection,
    Table,
    and_,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from earful.alerts.spikes import Spike
from earful.models import (
    Alert,
    Conversation,
    ConversationPost,
    Identity,
    MentionCount,
    Post,
)

alerts_t: Table = Alert.__table__  # type: ignore[assignment]
posts_t: Table = Post.__table__  # type: ignore[assignment]
members_t: Table = ConversationPost.__table__  # type: ignore[assignment]
conversations_t: Table = Conversation.__table__  # type: ignore[assignment]
counts_t: Table = MentionCount.__table__  # type: ignore[assignment]
ALERTS_LOCK = 0x6561_7266_756D  # pg_advisory_xact_lock key of spike detection ("earful" + 1)


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes from Core queries on this column type."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class AlertRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock(self) -> None:
        """PostgreSQL: judge spikes one transaction at a time (released at its end). SQLite
        has one writer already."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ALERTS_LOCK})

    def add_counts(self, added: dict[tuple[int, str, datetime], int]) -> None:
        """Add a batch's mentions to the per-window counts (an upsert per cell)."""
        if not added:
            return
        maker = pg_insert if self.conn.dialect.name == "postgresql" else sqlite_insert
        stmt = maker(counts_t)
        stmt = stmt.on_conflict_do_update(
            index_elements=["brand_id", "kind", "window_start"],
            set_={"count": counts_t.c.count + stmt.excluded.count},
        )
        self.conn.execute(
            stmt,
            [
                {"brand_id": b, "kind": k, "window_start": w, "count": n}
                for (b, k, w), n in sorted(added.items())
            ],
        )

    def counts(
        self, brand_ids: Iterable[int], ranges: Sequence[tuple[datetime, datetime]]
    ) -> dict[tuple[int, str, datetime], int]:
        brands = sorted(set(brand_ids))
        if not brands or not ranges:
            return {}
        in_ranges = or_(
            *(and_(counts_t.c.window_start >= a, counts_t.c.window_start < b) for a, b in ranges)
        )
        rows = self.conn.execute(
            select(
                counts_t.c.brand_id, counts_t.c.kind, counts_t.c.window_start, counts_t.c.count
            ).where(counts_t.c.brand_id.in_(brands), in_ranges)
        )
        return {(b, k, _utc(w)): n for b, k, w, n in rows}

    def first_windows(self, brand_ids: Iterable[int]) -> dict[int, datetime]:
        """Each brand's first counted window: the detector needs a day of history."""
        rows = self.conn.execute(
            select(counts_t.c.brand_id, func.min(counts_t.c.window_start))
            .where(counts_t.c.brand_id.in_(sorted(set(brand_ids))))
            .group_by(counts_t.c.brand_id)
        )
        return {b: _utc(w) for b, w in rows}

    def post_ids(self, brand_id: int, kind: str, start: datetime, end: datetime) -> list[int]:
        """The customer posts behind a spike (read once, when it fires)."""
        q = (
            select(posts_t.c.id)
            .select_from(
                posts_t.join(members_t, members_t.c.post_id == posts_t.c.id).join(
                    conversations_t, conversations_t.c.id == members_t.c.conversation_id
                )
            )
            .where(
                conversations_t.c.brand_id == brand_id,
                posts_t.c.from_brand.is_(False),
                posts_t.c.created_at >= start,
                posts_t.c.created_at < end,
            )
            .order_by(posts_t.c.id)
        )
        if kind == "negative":
            q = q.where(or_(posts_t.c.sentiment == "negative", posts_t.c.intent == "complaint"))
        return sorted(set(self.conn.scalars(q)))

    def recent_alerts(
        self, brand_ids: Iterable[int], since: datetime
    ) -> dict[tuple[int, str], list[datetime]]:
        out: dict[tuple[int, str], list[datetime]] = {}
        rows = self.conn.execute(
            select(Alert.brand_id, Alert.kind, Alert.window_start).where(
                Alert.brand_id.in_(sorted(set(brand_ids))), Alert.window_start >= since
            )
        )
        for brand, kind, start in rows:
            out.setdefault((brand, kind), []).append(start)
        return out

    def insert(self, spikes: Sequence[Spike]) -> list[int]:
        ids: list[int] = []
        for s in spikes:
            ids.append(
                self.conn.execute(
                    insert(alerts_t)
                    .values(
                        brand_id=s.brand_id,
                        kind=s.kind,
                        window_start=s.window_start,
                        window_end=s.window_end,
                        observed=s.observed,
                        expected=s.expected,
                        ratio=s.ratio,
                        surprise=s.surprise,
                        post_ids=s.post_ids,
                    )
                    .returning(alerts_t.c.id)
                ).scalar_one()
            )
        return ids


def get_readable(session: Session, alert_id: int, brand_ids: Sequence[int]) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.id == alert_id, Alert.brand_id.in_(brand_ids)))


def open_alerts(session: Session, brand_ids: Sequence[int], limit: int = 20) -> list[Alert]:
    """Open (not acknowledged) spike alerts of these brands, newest first."""
    if not brand_ids:
        return []
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.brand_id.in_(brand_ids), Alert.acknowledged_at.is_(None))
            .order_by(Alert.id.desc())
            .limit(limit)
        )
    )


def alerts_after(session: Session, after: int, limit: int = 100) -> list[Alert]:
    """Alerts raised after the one with id ``after`` (any brand: the hub scopes them)."""
    return list(
        session.scalars(select(Alert).where(Alert.id > after).order_by(Alert.id).limit(limit))
    )


def open_alerts_after(
    session: Session, brand_ids: Sequence[int], after: int, since: datetime, limit: int
) -> list[Alert]:
    """These brands' open alerts raised after ``after`` and since ``since``: the newest
    ``limit`` of them, oldest first (what a reopened event stream missed)."""
    if not brand_ids:
        return []
    rows = session.scalars(
        select(Alert)
        .where(
            Alert.brand_id.in_(brand_ids),
            Alert.id > after,
            Alert.created_at >= since,
            Alert.acknowledged_at.is_(None),
        )
        .order_by(Alert.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


def last_alert_id(session: Session) -> int:
    return int(session.scalar(select(func.max(Alert.id))) or 0)


@dataclass(slots=True, frozen=True)
class AlertPost:
    """A post of the spiking window, with the conversation it was threaded into."""

    id: int
    conversation_id: int | None
    network: str
    handle: str | None
    text: str
    created_at: datetime
    sentiment: str | None
    intent: str | None


def posts_of(session: Session, alert: Alert, limit: int = 100) -> list[AlertPost]:
    """The posts that made the spike (the first ones of its window, as the detector kept)."""
    ids = [int(i) for i in (alert.post_ids or [])[:limit] if isinstance(i, int | str)]
    if not ids:
        return []
    conv = (
        select(func.min(ConversationPost.conversation_id))
        .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        .where(ConversationPost.post_id == Post.id, Conversation.brand_id == alert.brand_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Post.id,
            conv,
            Post.network,
            Identity.handle,
            Post.text,
            Post.created_at,
            Post.sentiment,
            Post.intent,
        )
        .join(Identity, Identity.id == Post.identity_id)
        .where(Post.id.in_(ids), Post.deleted_at.is_(None))
        .order_by(Post.created_at, Post.id)
    ).all()
    return [AlertPost(*r) for r in rows]
