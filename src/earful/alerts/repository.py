"""All SQL of spike alerts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, Table, and_, insert, or_, select

from earful.alerts.spikes import Mention, Spike
from earful.models import Alert, Conversation, ConversationPost, Post

alerts_t: Table = Alert.__table__  # type: ignore[assignment]
posts_t: Table = Post.__table__  # type: ignore[assignment]
members_t: Table = ConversationPost.__table__  # type: ignore[assignment]
conversations_t: Table = Conversation.__table__  # type: ignore[assignment]


class AlertRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def mentions(
        self, brand_ids: Iterable[int], ranges: Sequence[tuple[datetime, datetime]]
    ) -> list[Mention]:
        """Customers' posts about these brands (never the brands' own) in the time ranges.

        A mention counts as negative when its sentiment is negative or it is a complaint.
        """
        brands = sorted(set(brand_ids))
        if not brands or not ranges:
            return []
        in_ranges = or_(
            *(and_(posts_t.c.created_at >= a, posts_t.c.created_at < b) for a, b in ranges)
        )
        rows = self.conn.execute(
            select(
                conversations_t.c.brand_id,
                posts_t.c.created_at,
                posts_t.c.sentiment,
                posts_t.c.intent,
                posts_t.c.id,
            )
            .select_from(
                posts_t.join(members_t, members_t.c.post_id == posts_t.c.id).join(
                    conversations_t, conversations_t.c.id == members_t.c.conversation_id
                )
            )
            .where(
                conversations_t.c.brand_id.in_(brands), posts_t.c.from_brand.is_(False), in_ranges
            )
        )
        return [
            Mention(b, when, sentiment == "negative" or intent == "complaint", pid)
            for b, when, sentiment, intent, pid in rows
        ]

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

    def for_brand(self, brand_id: int, limit: int = 50) -> list[Alert]:
        from sqlalchemy.orm import Session

        with Session(bind=self.conn) as session:
            return list(
                session.scalars(
                    select(Alert)
                    .where(Alert.brand_id == brand_id)
                    .order_by(Alert.window_start.desc())
                    .limit(limit)
                )
            )
