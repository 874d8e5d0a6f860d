"""All SQL of conversations: scoped reads, their triage state, tags, notes, the thread.

Every brand-data read takes the caller's brand ids as its scope (``get_readable``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from earful import business_hours
from earful.business_hours import Hours
from earful.conversations import priority as prio
from earful.conversations.export import by_conversation, status_text
from earful.models import (
    Brand,
    Conversation,
    ConversationPost,
    ConversationState,
    ConversationStatus,
    ConversationTag,
    EngagementSettings,
    Holiday,
    Identity,
    Note,
    Post,
    SlaPolicy,
    User,
)
from earful.models.base import utcnow


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
    for (cid, slug, status, network, author, first, _), rows in by_conversation(conn.execute(q)):
        yield {
            "id": cid,
            "brand": slug,
            "status": status_text(status),
            "network": network,
            "customer": author,
            "started_at": first.isoformat(),
            "posts": [row[-1] for row in rows],
        }


CHUNK = 500


def get_readable(session: Session, conv_id: int, brand_ids: Sequence[int]) -> Conversation | None:
    return session.scalar(
        select(Conversation).where(Conversation.id == conv_id, Conversation.brand_id.in_(brand_ids))
    )


def state(session: Session, conv_id: int) -> ConversationState | None:
    return session.get(ConversationState, conv_id)


def state_for_update(session: Session, conv: Conversation) -> ConversationState:
    """The conversation's state row, created if the refresher has not reached it yet."""
    st = session.get(ConversationState, conv.id)
    if st is None:
        refresh_states(session, [conv.id])
        st = session.get(ConversationState, conv.id)
    assert st is not None
    return st


def status_value(status: object) -> str:
    return str(status.value if isinstance(status, ConversationStatus) else status)


def tags_of(session: Session, conv_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for cid, tag in session.execute(
        select(ConversationTag.conversation_id, ConversationTag.tag)
        .where(ConversationTag.conversation_id.in_(conv_ids))
        .order_by(ConversationTag.tag)
    ):
        found[cid].append(tag)
    return found


def brand_tags(session: Session, brand_ids: Sequence[int]) -> list[str]:
    if not brand_ids:
        return []
    return list(
        session.scalars(
            select(ConversationTag.tag)
            .where(ConversationTag.brand_id.in_(brand_ids))
            .distinct()
            .order_by(ConversationTag.tag)
            .limit(200)
        )
    )


@dataclass(slots=True)
class ThreadPost:
    id: int
    network: str
    text: str
    created_at: datetime
    from_brand: bool
    url: str | None
    handle: str | None
    author_name: str | None
    sentiment: str | None
    sentiment_score: float | None
    intent: str | None
    intent_score: float | None
    urgency: int | None
    language: str | None
    private: bool
    # The second tier's version when it set sentiment, intent and urgency, else None.
    tier2_version: str | None
    # Character spans of the text that the brand's listening queries matched.
    spans: list[tuple[int, int]] = field(default_factory=list)


def thread(session: Session, conv_id: int) -> list[ThreadPost]:
    rows = session.execute(
        select(
            Post.id,
            Post.network,
            Post.text,
            Post.created_at,
            Post.from_brand,
            Post.url,
            Identity.handle,
            Identity.display_name,
            Post.sentiment,
            Post.sentiment_score,
            Post.intent,
            Post.intent_score,
            Post.urgency,
            Post.language,
            Post.private,
            Post.tier2_version,
        )
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .join(Identity, Identity.id == Post.identity_id)
        .where(ConversationPost.conversation_id == conv_id)
        .order_by(Post.created_at, Post.id)
    ).all()
    return [ThreadPost(*r) for r in rows]  # type: ignore[call-arg]


def notes(session: Session, conv_id: int) -> list[tuple[Note, str | None]]:
    rows = session.execute(
        select(Note, User.name)
        .outerjoin(User, User.id == Note.author_id)
        .where(Note.conversation_id == conv_id)
        .order_by(Note.created_at, Note.id)
    ).all()
    return [(n, name) for n, name in rows]


def add_tag(session: Session, conv: Conversation, tag: str) -> None:
    if session.get(ConversationTag, (conv.id, tag)) is None:
        session.add(ConversationTag(conversation_id=conv.id, tag=tag, brand_id=conv.brand_id))
        session.flush()


def remove_tag(session: Session, conv: Conversation, tag: str) -> None:
    session.execute(
        delete(ConversationTag).where(
            ConversationTag.conversation_id == conv.id, ConversationTag.tag == tag
        )
    )


def _upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(ConversationState)


def refresh_states(session: Session, conv_ids: Sequence[int]) -> None:
    """Recompute labels, SLA clock and priority of these conversations from their posts.

    Sentiment, intent and language are the customer's latest post's; urgency is the highest
    among the posts still waiting for an answer (else the latest's), and names the priority
    whose target starts at the first of them.

    Keeps the assignee; bumps the version of rows that already existed, so an open
    reply form sees that the customer wrote again.
    """
    ids = sorted(set(conv_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        convs = {
            cid: (brand, count, target, status_value(status))
            for cid, brand, count, target, status in session.execute(
                select(
                    Conversation.id,
                    Conversation.brand_id,
                    Conversation.post_count,
                    Brand.target_response_minutes,
                    Conversation.status,
                )
                .join(Brand, Brand.id == Conversation.brand_id)
                .where(Conversation.id.in_(chunk))
            )
        }
        posts: dict[int, list[Any]] = defaultdict(list)
        for row in session.execute(
            select(
                ConversationPost.conversation_id,
                Post.created_at,
                Post.from_brand,
                Post.network,
                Post.language,
                Post.sentiment,
                Post.sentiment_score,
                Post.intent,
                Post.urgency,
            )
            .join(Post, Post.id == ConversationPost.post_id)
            .where(ConversationPost.conversation_id.in_(chunk))
            .order_by(ConversationPost.conversation_id, Post.created_at, Post.id)
        ):
            posts[row[0]].append(row)
        values = []
        now = utcnow()
        brand_ids = sorted({brand for brand, *_ in convs.values()})
        calendars = service_calendars(session, brand_ids)
        targets = sla_targets(session, brand_ids)
        for cid, (brand_id, count, target, status) in convs.items():
            items = posts.get(cid, [])
            customer = [p for p in items if not p.from_brand]
            latest = customer[-1] if customer else None
            waiting: datetime | None = None
            first_response: datetime | None = None
            unanswered: list[Any] = []  # the customer's posts since the brand last wrote
            for p in items:
                if p.from_brand:
                    waiting = None
                    unanswered = []
                    if first_response is None and customer:
                        first_response = p.created_at
                else:
                    unanswered.append(p)
                    if waiting is None:
                        waiting = p.created_at
            # Waiting: the most urgent waiting post; answered: the latest post's.
            urgency = most_urgent(unanswered) if unanswered else latest.urgency if latest else None
            s = prio.score(urgency, latest.sentiment, latest.sentiment_score) if latest else 0.0
            values.append(
                {
                    "conversation_id": cid,
                    "brand_id": brand_id,
                    "status": status,
                    "version": 1,
                    "seen_post_count": count,
                    "network": items[-1].network if items else None,
                    "language": latest.language if latest else None,
                    "sentiment": latest.sentiment if latest else None,
                    "sentiment_score": latest.sentiment_score if latest else None,
                    "intent": latest.intent if latest else None,
                    "urgency": urgency,
                    "waiting_since": waiting,
                    "first_response_at": first_response,
                    "priority_key": prio.priority_key(
                        s,
                        due(
                            calendars.get(brand_id),
                            waiting,
                            prio.target_minutes(targets, brand_id, urgency, target)
                            if latest
                            else target,
                        ),
                    ),
                    "updated_at": now,
                }
            )
        if not values:
            continue
        stmt = _upsert(session)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={
                "version": ConversationState.version + 1,
                "status": excluded.status,
                "seen_post_count": excluded.seen_post_count,
                "network": excluded.network,
                "language": excluded.language,
                "sentiment": excluded.sentiment,
                "sentiment_score": excluded.sentiment_score,
                "intent": excluded.intent,
                "urgency": excluded.urgency,
                "waiting_since": excluded.waiting_since,
                "first_response_at": excluded.first_response_at,
                "priority_key": excluded.priority_key,
                "updated_at": excluded.updated_at,
            },
        )
        session.execute(stmt, values)
    session.expire_all()


def most_urgent(posts: Sequence[Any]) -> int | None:
    """The highest urgency among the waiting posts: a stranded customer's "hello??" after
    "my flight leaves in an hour" keeps the conversation urgent. None if none is labeled."""
    levels = [p.urgency for p in posts if p.urgency is not None]
    return max(levels) if levels else None


def stale_conversations(session: Session, limit: int = 5000) -> list[int]:
    """Conversations whose state is missing or behind their posts."""
    return list(
        session.scalars(
            select(Conversation.id)
            .outerjoin(ConversationState, ConversationState.conversation_id == Conversation.id)
            .where(
                or_(
                    ConversationState.conversation_id.is_(None),
                    ConversationState.seen_post_count != Conversation.post_count,
                )
            )
            .limit(limit)
        )
    )


def last_post_id(session: Session) -> int:
    return int(session.scalar(select(func.max(ConversationPost.post_id))) or 0)


def posts_after(session: Session, after: int, limit: int = 5000) -> list[tuple[int, int, int]]:
    """(brand id, conversation id, post id) of posts threaded after ``after``."""
    rows = session.execute(
        select(Conversation.brand_id, ConversationPost.conversation_id, ConversationPost.post_id)
        .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        .where(ConversationPost.post_id > after)
        .order_by(ConversationPost.post_id)
        .limit(limit)
    ).all()
    return [(b, c, p) for b, c, p in rows]


def bump_version(session: Session, conv_id: int) -> None:
    session.execute(
        update(ConversationState)
        .where(ConversationState.conversation_id == conv_id)
        .values(version=ConversationState.version + 1, updated_at=utcnow())
    )


def answered(session: Session, st: ConversationState, target_minutes: int) -> None:
    """The brand answered: the SLA clock stops until the customer writes again."""
    now = utcnow()
    if st.waiting_since is not None and st.first_response_at is None:
        st.first_response_at = now
    st.waiting_since = None
    s = prio.score(st.urgency, st.sentiment, st.sentiment_score)
    st.priority_key = prio.priority_key(s, None)


@dataclass(slots=True)
class InboxRow:
    id: int
    brand_id: int
    brand_name: str
    target_minutes: int
    status: str
    subject: str | None
    last_post_at: datetime
    post_count: int
    handle: str | None
    author_name: str | None
    network: str | None
    sentiment: str | None
    intent: str | None
    urgency: int | None
    language: str | None
    waiting_since: datetime | None
    priority_key: float
    version: int
    assignee_id: int | None
    assignee_name: str | None
    tags: list[str]


def sla_targets(session: Session, brand_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    """{(brand id, priority): target minutes} of the brands' SLA policies."""
    if not brand_ids:
        return {}
    rows = session.execute(
        select(SlaPolicy.brand_id, SlaPolicy.priority, SlaPolicy.target_minutes).where(
            SlaPolicy.brand_id.in_(list(brand_ids))
        )
    )
    return {(b, p): m for b, p, m in rows}


def service_calendars(session: Session, brand_ids: Sequence[int]) -> dict[int, Hours]:
    """{brand id: service hours with holidays}; a brand without settings is always open.
    Stored hours are valid (checked when set), so a brand's calendar parses."""
    if not brand_ids:
        return {}
    closed: dict[int, list[date]] = defaultdict(list)
    for brand_id, day in session.execute(
        select(Holiday.brand_id, Holiday.day).where(Holiday.brand_id.in_(list(brand_ids)))
    ):
        closed[brand_id].append(day)
    found = {
        brand_id: business_hours.parse(tz, spans, closed.get(brand_id, ()))
        for brand_id, tz, spans in session.execute(
            select(
                EngagementSettings.brand_id, EngagementSettings.timezone, EngagementSettings.hours
            ).where(EngagementSettings.brand_id.in_(list(brand_ids)))
        )
    }
    for brand_id in set(closed) - set(found):  # holidays, no hours of its own: UTC days
        found[brand_id] = business_hours.parse("UTC", None, closed[brand_id])
    return found


def due(calendar: Hours | None, waiting: datetime | None, target_minutes: int) -> datetime | None:
    """When a conversation waiting since ``waiting`` is due: ``target_minutes`` of the
    brand's service hours later (a year on when its hours never open)."""
    if waiting is None:
        return None
    if calendar is None:
        return waiting + timedelta(minutes=target_minutes)
    found = business_hours.add_working(calendar, waiting, target_minutes)
    return found if found is not None else waiting + timedelta(days=366)


def waiting_ids(session: Session, brand_id: int) -> list[int]:
    """The brand's conversations waiting for an answer (their due time follows its
    service hours and SLA targets)."""
    return list(
        session.scalars(
            select(ConversationState.conversation_id).where(
                ConversationState.brand_id == brand_id,
                ConversationState.waiting_since.is_not(None),
            )
        )
    )


def sla_policy(session: Session, brand_id: int, priority: str) -> SlaPolicy | None:
    return session.get(SlaPolicy, (brand_id, priority))
